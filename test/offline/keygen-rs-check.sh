#!/usr/bin/env bash
# Has keygen-rs, Keygen's Rust SDK, read files a live server issued: a machine file and a
# license file (both encrypted), checked out over HTTP, with the public key the server
# publishes. Each must verify and decrypt to the right ids and expiry, and each must be refused
# with one changed character in its body, another fingerprint or another license key.
# Runs under sdk/run-smoke.sh (LICENTRIC_BASE_URL, LICENTRIC_LICENSE_KEY); $1 is the verifier.
set -euo pipefail
verifier=$1
base=$LICENTRIC_BASE_URL
key=$LICENTRIC_LICENSE_KEY
work=$(mktemp -d "${TMPDIR:-/tmp}/licentric-keygen-rs-XXXXXX")
trap 'rm -rf "$work"' EXIT

# `field PATH` reads one value from the JSON on stdin, e.g. `field data.id`.
field() {
  node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    const v = process.argv[1].split(".").reduce((o, k) => o?.[k], JSON.parse(s));
    if (v === undefined) { console.error(`no ${process.argv[1]} in ${s}`); process.exit(1); }
    console.log(typeof v === "string" ? v : JSON.stringify(v));
  })' "$1"
}
post() { curl -fsS -X POST "$base$1" -H "Authorization: License $key" -H 'Content-Type: application/json' -d "$2"; }

fingerprint=keygen-rs-$RANDOM$RANDOM
machine=$(post /machines "{\"fingerprint\":\"$fingerprint\"}")
machine_id=$(field data.id <<<"$machine")
license_id=$(field data.licenseId <<<"$machine")
public_key=$(curl -fsS "$base/signing-keys" |
  node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () =>
    console.log(JSON.parse(s).data.find((k) => k.status === "active").publicKey))')

machine_file=$(post "/machines/$machine_id/actions/check-out" '{"encrypt":true}')
field data.certificate <<<"$machine_file" >"$work/machine.lic"
machine_expiry=$(field data.expiry <<<"$machine_file")
license_file=$(post /licenses/actions/check-out '{"encrypt":true}')
field data.certificate <<<"$license_file" >"$work/license.lic"
license_expiry=$(field data.expiry <<<"$license_file")

# One character of the body's second line changed to another base64 character.
tamper() { awk 'NR == 3 { c = substr($0, 11, 1); $0 = substr($0, 1, 10) (c == "A" ? "B" : "A") substr($0, 12) } 1' "$1"; }
tamper "$work/machine.lic" >"$work/machine-changed.lic"
tamper "$work/license.lic" >"$work/license-changed.lic"
other_key=${key%?}$([[ ${key: -1} == A ]] && echo B || echo A)
# The signature alone changed (its first character), and a valid Ed25519 key that did not sign:
# both still decrypt, so only keygen-rs's signature check can refuse them.
resign() {
  node -e 'const fs = require("node:fs");
    const [file, kind] = process.argv.slice(1);
    const lines = fs.readFileSync(file, "utf8").trim().split("\n");
    const cert = JSON.parse(Buffer.from(lines.slice(1, -1).join(""), "base64").toString("utf8"));
    cert.sig = (cert.sig[0] === "A" ? "B" : "A") + cert.sig.slice(1);
    const body = Buffer.from(JSON.stringify(cert), "utf8").toString("base64").match(/.{1,60}/g);
    process.stdout.write([lines[0], ...body, lines.at(-1)].join("\n") + "\n");' "$1"
}
resign "$work/machine.lic" >"$work/machine-resigned.lic"
resign "$work/license.lic" >"$work/license-resigned.lic"
other_public_key=$(node -e 'const { generateKeyPairSync } = require("node:crypto");
  const der = generateKeyPairSync("ed25519").publicKey.export({ format: "der", type: "spki" });
  console.log(der.subarray(-32).toString("hex"))')

failures=0
# `expect accept|refuse[=ERROR] WHAT ARGS...`: with =ERROR, the refusal must be keygen-rs's ERROR.
expect() {
  local want=${1%%=*} reason=${1#*=} what=$2 out
  shift 2
  if out=$("$verifier" "$@" 2>"$work/err"); then
    if [[ $want == accept ]]; then echo "ok: accepted $what: $out"; return; fi
    echo "FAIL: keygen-rs accepted $what: $out" >&2
  else
    local rc=$?
    if [[ $want == refuse && $rc == 1 ]] && grep -q -- "$reason" "$work/err"; then
      echo "ok: refused $what: $(cat "$work/err")"
      return
    fi
    echo "FAIL: keygen-rs exited $rc on $what: $(cat "$work/err")" >&2
  fi
  failures=$((failures + 1))
}
same() {
  if [[ $2 == "$3" ]]; then echo "ok: $1 is $2"; else echo "FAIL: $1 is $2, not $3" >&2; failures=$((failures + 1)); fi
}

expect accept "the machine file" machine "$work/machine.lic" "$public_key" "$key" "$fingerprint"
read_machine=$("$verifier" machine "$work/machine.lic" "$public_key" "$key" "$fingerprint" || true)
same "the machine file's machine id" "$(field id <<<"$read_machine")" "$machine_id"
same "the machine file's fingerprint" "$(field fingerprint <<<"$read_machine")" "$fingerprint"
same "the machine file's license id" "$(field licenseId <<<"$read_machine")" "$license_id"
same "the machine file's expiry" "$(field expiry <<<"$read_machine")" "$machine_expiry"
expect refuse "the machine file with a changed character" machine "$work/machine-changed.lic" "$public_key" "$key" "$fingerprint"
expect refuse=MachineFileNotGenuine "the machine file with a changed signature" machine "$work/machine-resigned.lic" "$public_key" "$key" "$fingerprint"
expect refuse=MachineFileNotGenuine "the machine file under another public key" machine "$work/machine.lic" "$other_public_key" "$key" "$fingerprint"
expect refuse "the machine file with another fingerprint" machine "$work/machine.lic" "$public_key" "$key" "${fingerprint}x"
expect refuse "the machine file with another license key" machine "$work/machine.lic" "$public_key" "$other_key" "$fingerprint"

expect accept "the license file" license "$work/license.lic" "$public_key" "$key"
read_license=$("$verifier" license "$work/license.lic" "$public_key" "$key" || true)
same "the license file's license id" "$(field id <<<"$read_license")" "$license_id"
same "the license file's key" "$(field licenseKey <<<"$read_license")" "$key"
same "the license file's expiry" "$(field expiry <<<"$read_license")" "$license_expiry"
expect refuse "the license file with a changed character" license "$work/license-changed.lic" "$public_key" "$key"
expect refuse=LicenseFileNotGenuine "the license file with a changed signature" license "$work/license-resigned.lic" "$public_key" "$key"
expect refuse=LicenseFileNotGenuine "the license file under another public key" license "$work/license.lic" "$other_public_key" "$key"
expect refuse "the license file with another license key" license "$work/license.lic" "$public_key" "$other_key"

if ((failures > 0)); then echo "keygen-rs: $failures check(s) failed" >&2; exit 1; fi
echo "keygen-rs accepted Licentric's machine and license files and refused every altered one"
