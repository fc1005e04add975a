#!/usr/bin/env bash
# `make fuzz`: schemathesis against the real server on a fresh, throw-away PostgreSQL.
#
# Environment (the Makefile sets all of them):
#   SCHEMATHESIS         the schemathesis executable (from the project's virtualenv)
#   FUZZ_EXAMPLES        test cases per operation and phase, and stateful scenarios
#   FUZZ_SEED            seed of the run; the same seed replays the same requests
#   FUZZ_EXCLUDE_CHECKS  comma-separated built-in checks left out (reasons in the Makefile)
#   FUZZ_REPORT_DIR      where the JUnit reports and the server's log go
# Arguments are passed on to `schemathesis run`, after (and so over) the ones given here.
set -euo pipefail

cd "$(dirname "$0")/../.."
root=$PWD
export PATH="$root/node_modules/.bin:$PATH"

: "${SCHEMATHESIS:?set SCHEMATHESIS to the schemathesis executable}"
: "${FUZZ_EXAMPLES:=200}" "${FUZZ_SEED:=1}" "${FUZZ_EXCLUDE_CHECKS:=}" "${FUZZ_REPORT_DIR:=reports}"

work=$(mktemp -d "${TMPDIR:-/tmp}/licentric-fuzz.XXXXXX")
# As root, the embedded PostgreSQL runs as the OS user `postgres`, which must be able to pass
# through this folder to reach the cluster inside it.
chmod 711 "$work"
server_pid=

stop() {
  local status=$?
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    # SIGTERM lets the server stop the PostgreSQL it started.
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  # Should the server have died without stopping it, stop the cluster's postmaster ourselves.
  local pidfile="$work/data/pg/postmaster.pid"
  if [[ -f $pidfile ]]; then
    local postmaster
    postmaster=$(head -n 1 "$pidfile")
    if [[ $postmaster =~ ^[0-9]+$ ]] && kill -0 "$postmaster" 2>/dev/null; then
      kill -TERM "$postmaster" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$postmaster" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
  if [[ -f $work/server.log ]]; then
    mkdir -p "$FUZZ_REPORT_DIR"
    cp "$work/server.log" "$FUZZ_REPORT_DIR/fuzz-server.log"
    [[ $status -eq 0 ]] || echo "fuzz: the server's log is in $FUZZ_REPORT_DIR/fuzz-server.log" >&2
  fi
  rm -rf "$work"
  exit "$status"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

export LICENTRIC_DATA_DIR="$work/data"
unset DATABASE_URL LICENTRIC_SECRET

# `cli ARGS...`: what the CLI created, as JSON (with its key or token).
cli() { node src/cli.ts "$@" --json; }
# `field JSON NAME`: one top-level field of a JSON object.
field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

# Port 0: the server binds a free port itself and logs it, so no other process can take it
# between choosing and binding. Rate limits off: thousands of requests, many with wrong keys,
# from one address would otherwise turn most answers into 429 and leave the rest untested
# (test/rate-limits.test.ts and test/replicas.test.ts check the 429s against the spec).
# Webhook delivery off: the run creates endpoints at whatever URLs it generates, and delivering
# to them would send traffic off this machine (test/webhooks.test.ts proves delivery against a
# local receiver). With nothing ever delivered by this server, loopback endpoints may be
# created, which the seeding below needs.
# The log exists before the server starts: the loop below reads it at once, and a read before
# the background job had opened it failed the run (set -e).
: >"$work/server.log"
LICENTRIC_RATE_LIMITS=off LICENTRIC_WEBHOOKS_IN_SERVER=false LICENTRIC_WEBHOOKS_ALLOW_PRIVATE=true PORT=0 LOG_LEVEL=info node src/cli.ts serve >"$work/server.log" 2>&1 &
server_pid=$!
port=
for _ in $(seq 600); do
  port=$(sed -n 's/.*"port":\([0-9]*\).*"msg":"listening".*/\1/p' "$work/server.log")
  [[ -n $port ]] && break
  kill -0 "$server_pid" 2>/dev/null || { echo "the server exited before listening" >&2; exit 1; }
  sleep 0.1
done
[[ -n $port ]] || { echo "the server did not start listening within 60 s" >&2; exit 1; }
base="http://127.0.0.1:$port"

# No machine limit: a valid activation must be accepted (positive_data_acceptance), and a
# limit the run happens to reach would refuse it with a 422 the schema cannot foresee.
policy=$(cli policies create --name fuzz --key-prefix FUZZ)
license=$(cli licenses create --policy "$(field "$policy" id)")
api_key=$(cli api-keys create --name fuzz --scopes admin)
license_key=$(field "$license" key)
api_token=$(field "$api_key" token)
fixture_ids="$(field "$policy" id),$(field "$license" id),$(field "$api_key" id)"

# Enough active machines that every list page is full whatever the scenarios before it did.
# The stateful phase draws ids from list pages and expects a replayed step to see what it saw
# the first time; with a handful of machines a page's length would change from one scenario
# to the next, which Hypothesis reports as flaky data generation, ending the phase early.
# Plain activations through the API, so the data is what any client could have made. A process
# on each of the first 30, for the same reason: process reads, heartbeats and releases find ids
# in the process list pages (the license's policy has no process limit, so every spawn succeeds).
python3 - "$base/api/v1/machines" "$license_key" <<'PY'
import json, sys, urllib.request

url, key = sys.argv[1:]
headers = {"Authorization": f"License {key}", "Content-Type": "application/json"}
for n in range(120):
    body = json.dumps({"fingerprint": f"fuzz-seed-{n:04d}", "name": f"seed {n}"}).encode()
    request = urllib.request.Request(url, body, headers, method="POST")
    with urllib.request.urlopen(request) as response:
        assert response.status == 201, response.status
        machine = json.load(response)["data"]["id"]
    if n < 30:
        spawn = urllib.request.Request(f"{url}/{machine}/processes", b"{}", headers, method="POST")
        with urllib.request.urlopen(spawn) as response:
            assert response.status == 201, response.status
PY

# Webhook endpoints and delivery attempts for the stateful phase to find in list pages: without
# them every update of an endpoint and every redelivery would be a 404, which schemathesis
# reports as missing test data. Each endpoint points at a closed port on loopback and gets one
# test message; one worker pass, allowed loopback like the server, makes the attempts (each is
# refused at once and recorded as a failed delivery). Nothing leaves this machine.
python3 - "$base/api/v1/webhook-endpoints" "$api_token" <<'PY'
import json, sys, urllib.request

url, token = sys.argv[1:]
headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
for n in range(10):
    body = json.dumps({"url": f"http://127.0.0.1:9/licentric-fuzz/{n}", "eventTypes": ["policy.deleted"]}).encode()
    with urllib.request.urlopen(urllib.request.Request(url, body, headers, method="POST")) as response:
        assert response.status == 201, response.status
        endpoint = json.load(response)["data"]["id"]
    test = urllib.request.Request(f"{url}/{endpoint}/actions/send-test", b"", headers, method="POST")
    with urllib.request.urlopen(test) as response:
        assert response.status == 202, response.status
PY
# Licenses for the stateful phase to find in list pages and change: the run's own license is
# spared (hooks.py), and generated policy ids rarely name a policy, so without these nearly every
# suspension, renewal or entitlement change would be a 404, which schemathesis reports as missing
# test data. Their policy has a duration, so a renewal can succeed. And entitlements for
# hooks.py to name (`_known_references`).
seeds=$(python3 - "$base/api/v1" "$api_token" <<'PY'
import json, sys, urllib.request

api, token = sys.argv[1:]
headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def post(path, body):
    request = urllib.request.Request(f"{api}{path}", json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(request) as response:
        assert response.status == 201, response.status
        return json.load(response)["data"]


policy = post("/policies", {"name": "fuzz renewable", "keyPrefix": "SEED", "duration": 31536000})
for n in range(10):
    post("/licenses", {"policyId": policy["id"], "name": f"seed {n}"})
entitlements = [post("/entitlements", {"code": f"FUZZ_SEED_{n}", "name": f"seed {n}"}) for n in range(5)]
print(policy["id"], ",".join(e["id"] for e in entitlements), ",".join(e["code"] for e in entitlements))
PY
)
read -r seed_policy_id seed_entitlement_ids seed_entitlement_codes <<<"$seeds"
LICENTRIC_WEBHOOKS_ALLOW_PRIVATE=true node src/cli.ts worker --once >"$work/worker.log" 2>&1 \
  || { cat "$work/worker.log" >&2; echo "fuzz: the seeding worker pass failed" >&2; exit 1; }

export LICENTRIC_FUZZ_LICENSE_KEY=$license_key LICENTRIC_FUZZ_API_TOKEN=$api_token
# The seeded policy and entitlements are named by hooks.py, so they are spared like the fixtures:
# a renamed code or a policy without its duration would turn those requests back into 422s.
export LICENTRIC_FUZZ_FIXTURE_IDS=$fixture_ids,$seed_policy_id,$seed_entitlement_ids
export LICENTRIC_FUZZ_SEED_POLICY_ID=$seed_policy_id LICENTRIC_FUZZ_SEED_ENTITLEMENTS=$seed_entitlement_codes
export SCHEMATHESIS_HOOKS="$root/test/fuzz/hooks.py"
# Hypothesis keeps caches in ./.hypothesis unless told otherwise; they belong to this run only,
# and so does the bytecode of hooks.py.
export HYPOTHESIS_STORAGE_DIRECTORY="$work/hypothesis" PYTHONDONTWRITEBYTECODE=1

mkdir -p "$FUZZ_REPORT_DIR"
exclude=()
[[ -n $FUZZ_EXCLUDE_CHECKS ]] && exclude=(--exclude-checks "$FUZZ_EXCLUDE_CHECKS")

# `fuzz NAME ARGS...`: one schemathesis run against the server, its JUnit report named NAME.
fuzz() {
  local name=$1
  shift
  "$SCHEMATHESIS" --config-file test/fuzz/schemathesis.toml run "$base/openapi.json" \
    --url "$base/api/v1" \
    --checks all "${exclude[@]}" \
    --mode all \
    --max-examples "$FUZZ_EXAMPLES" \
    --seed "$FUZZ_SEED" \
    --report junit --report-junit-path "$FUZZ_REPORT_DIR/$name-junit.xml" \
    --no-color \
    "$@"
}

started=$SECONDS
failed=0
# The machine lifecycle on its own first, where hooks.py requires the whole five-step flow.
# With every other operation in the mix the stateful phase spreads its scenarios over all of
# their links, and the flow becomes a matter of luck. The list is left to the run below: its
# pages change as scenarios add machines, so a replayed scenario can draw from a different page,
# which Hypothesis reports as flaky data generation and answers by ending the phase early.
LICENTRIC_FUZZ_REQUIRE_MACHINE_FLOW=1 fuzz fuzz-machine-flow --phases stateful \
  --include-tag Machines --exclude-operation-id listMachines "$@" || failed=1
# The whole API, every phase.
fuzz fuzz --phases examples,coverage,fuzzing,stateful "$@" || failed=1
echo "fuzz: schemathesis took $((SECONDS - started)) s (FUZZ_EXAMPLES=$FUZZ_EXAMPLES, FUZZ_SEED=$FUZZ_SEED)"
exit "$failed"
