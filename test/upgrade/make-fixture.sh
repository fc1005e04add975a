#!/usr/bin/env bash
# Makes the fixture of test/upgrade.test.ts: a database made by a release's own code. The
# release is checked out (git worktree) and served on a fresh embedded PostgreSQL; populate.ts
# fills it through its HTTP API and records every object as the release answers it
# (release-<commit>.json, with the keys it issued and its secret); PostgreSQL 18's pg_dump then
# writes the database as SQL (release-<commit>.sql). Run from a clone with history:
#   test/upgrade/make-fixture.sh COMMIT
set -euo pipefail
commit=$(git rev-parse --verify "${1:?usage: test/upgrade/make-fixture.sh COMMIT}^{commit}")
root=$(git rev-parse --show-toplevel)
out="$root/test/upgrade/release-${commit:0:7}"
make -C "$root" -s install pg-client
export PATH="$root/node_modules/.bin:$PATH"
pg_bin=$(ls -d "$root"/.tools/postgresql-18.*/bin | tail -1)

work=$(mktemp -d)
# Reachable by PostgreSQL's OS user when run as root, so the cluster stays in the data folder.
chmod 755 "$work"
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  git -C "$root" worktree remove --force "$work/release" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

git -C "$root" worktree add --quiet --detach "$work/release" "$commit"
cd "$work/release"
# The release's own dependencies: this clone's when it pins the same, else installed anew.
if cmp -s package-lock.json "$root/package-lock.json"; then ln -s "$root/node_modules" node_modules
else npm ci --no-audit --no-fund --loglevel=error; fi

export RELEASE_COMMIT=$commit LICENTRIC_SECRET=upgrade-fixture-secret-0123456789abcdef
export LICENTRIC_DATA_DIR="$work/data" DATABASE_URL= LOG_LEVEL=info LICENTRIC_RATE_LIMITS=off
export LICENTRIC_WEBHOOKS_IN_SERVER=false LICENTRIC_WEBHOOKS_ALLOW_PRIVATE=true
export PORT=$(node -e 's=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
node src/cli.ts serve >"$work/server.log" 2>&1 &
server=$!
until grep -q '"msg":"listening"' "$work/server.log"; do
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.2
done
token=$(node src/cli.ts api-keys create --name fixture --scopes admin --json | node -e \
  'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).token))')
node "$root/test/upgrade/populate.ts" "http://127.0.0.1:$PORT/api/v1" "$token" >"$out.json"

# The database as the release left it, while it still serves (pg_dump reads one snapshot).
pg_port=$(sed -n 4p "$work/data/pg/postmaster.pid")
PGPASSWORD=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).password)' \
  "$work/data/pg-credentials.json") \
  "$pg_bin/pg_dump" --no-owner --no-privileges --column-inserts \
  --dbname="postgresql://postgres@127.0.0.1:$pg_port/licentric" >"$out.sql"
echo "wrote $out.sql and $out.json"
