#!/usr/bin/env bash
# Runs SDK smoke programs against a live server, as `make run` would serve it: a throw-away
# embedded database, keys made with the CLI, and the server started from the working tree.
# Usage: sdk/run-smoke.sh NAME=COMMAND [NAME=COMMAND...]  (each COMMAND runs in bash)
# The server's URL and keys reach each command as LICENTRIC_BASE_URL, LICENTRIC_LICENSE_KEY
# and LICENTRIC_API_KEY.
set -euo pipefail
cd "$(dirname "$0")/.."

data_dir=$(mktemp -d "${TMPDIR:-/tmp}/licentric-sdk-XXXXXX")
server_pid=
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$data_dir"
}
trap cleanup EXIT

export LICENTRIC_DATA_DIR=$data_dir LOG_LEVEL=${LOG_LEVEL:-warn}
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cli() { node src/cli.ts "$@"; }
json_field() { node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s)[process.argv[1]]))' "$1"; }

policy_id=$(cli policies create --name "SDK smoke" --key-prefix SDK --json | json_field id)
license_key=$(cli licenses create --policy "$policy_id" --json | json_field key)
# The flows also make and delete their own products, entitlements, policies and licenses.
scopes=machines:read,machines:write,events:read,products:read,products:write,entitlements:read,entitlements:write
scopes+=,policies:read,policies:write,licenses:read,licenses:write
api_key=$(cli api-keys create --name "SDK smoke" --scopes "$scopes" --json | json_field token)

PORT=$port node src/cli.ts serve >"$data_dir/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$data_dir/server.log" >&2; echo "the server did not start" >&2; exit 1; }
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$data_dir/server.log" >&2; exit 1; }

export LICENTRIC_BASE_URL=http://127.0.0.1:$port/api/v1 LICENTRIC_LICENSE_KEY=$license_key LICENTRIC_API_KEY=$api_key

failed=()
for spec in "$@"; do
  name=${spec%%=*}
  echo "== $name smoke against $LICENTRIC_BASE_URL"
  start=$SECONDS
  if bash -c "${spec#*=}"; then
    echo "== $name: passed in $((SECONDS - start))s"
  else
    echo "== $name: FAILED" >&2
    failed+=("$name")
  fi
done
if ((${#failed[@]} > 0)); then
  echo "SDK smoke failed for: ${failed[*]} (server log below)" >&2
  cat "$data_dir/server.log" >&2
  exit 1
fi
echo "SDK smoke passed for $# SDK(s)"
