# Licentric. The two commands that matter: `make run` and `make test` (see README.md).
# Every target installs what it needs first; Node.js 24 comes from the `node` devDependency,
# so the machine's own node version does not matter.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

NODE_STAMP := node_modules/.install-stamp

.PHONY: help install run generate check-generated typecheck unit test clean

help:
	@echo "make run     serve the API on http://127.0.0.1:3000/api/v1 (embedded PostgreSQL unless DATABASE_URL is set)"
	@echo "make test    everything CI checks: generated/ up to date, types, tests on real PostgreSQL"
	@echo "make generate    rebuild generated/ from spec/"

install: $(NODE_STAMP)

# Reinstalls when the lock file changes; `npm ci` installs exactly what it pins.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

run: install
	npm start

generate: install
	npm run generate

# generated/ must be exactly what spec/ produces: regenerate into a scratch folder and compare.
check-generated: install
	@scratch=$$(mktemp -d); trap 'rm -rf "$$scratch"' EXIT; \
	tsp compile spec --config tsp-config.yaml --option "@typespec/openapi3.emitter-output-dir=$$scratch" >/dev/null; \
	openapi-typescript "$$scratch/openapi.yaml" --empty-objects-unknown -o "$$scratch/api.d.ts" >/dev/null 2>&1; \
	if ! diff -ru generated/openapi.yaml "$$scratch/openapi.yaml" || ! diff -ru generated/api.d.ts "$$scratch/api.d.ts"; then \
	  echo "generated/ is out of date with spec/: run 'make generate' and commit the result." >&2; exit 1; \
	fi; echo "generated/ matches spec/"

typecheck: install
	tsc -p tsconfig.json --noEmit

unit: install
	vitest run

test: check-generated typecheck unit

clean:
	rm -rf dist reports artifacts
