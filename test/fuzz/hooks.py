"""schemathesis hooks for `make fuzz` (loaded through SCHEMATHESIS_HOOKS by test/fuzz/run.sh).

What the generic run cannot know about this API:

- Credentials. The spec's `License` scheme is an HTTP auth scheme that schemathesis' own auth
  config cannot fill (it knows Basic and Bearer), so one provider picks the header from each
  operation's declared security.
- The run's own policy, license and API key must survive it (see `_spare_fixtures`).
- Fingerprints stay taken across scenarios, which the stateful phase cannot tell from flaky
  data generation (see `_fresh_fingerprint`).
- An `Idempotency-Key` stays bound to its first request for 24 hours (see `_fresh_idempotency_key`).
- Validation takes `fingerprint` or `fingerprints`, not both, which the spec says only in words
  (see `_one_fingerprint_scope`).
- Which policies and entitlements exist (see `_known_references`).
- What a signed answer needs: an `Accept-Signature` asking for `ed25519`, which the generator
  all but never writes (see `_ask_for_signature`); `SignedAnswers` checks what comes back.
- Which license key opens the run's machines and what ttl a check-out takes (see `_check_out_terms`).
- Deactivation is a soft delete, by contract: a deactivated machine stays readable with
  `deletedAt` set. `SoftDeletion` checks exactly that, in place of the built-in
  `use_after_free`, which expects a 404 after any successful DELETE and is excluded in the
  Makefile for that reason. In run.sh's machine-only stateful run it also fails when no
  machine went through activate -> get -> heartbeat -> deactivate -> heartbeat (404), so a
  spec change that breaks link inference cannot quietly shrink the run to unrelated requests.
"""

import base64
import hashlib
import itertools
import json
import os
import re
import threading
import uuid

import schemathesis
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode

LICENSE_KEY = os.environ["LICENTRIC_FUZZ_LICENSE_KEY"]
API_TOKEN = os.environ["LICENTRIC_FUZZ_API_TOKEN"]
# Set by run.sh for its machine-only stateful run, where the whole flow must show up.
REQUIRE_MACHINE_FLOW = os.environ.get("LICENTRIC_FUZZ_REQUIRE_MACHINE_FLOW") == "1"
# The policy, license and API key the run authenticates with, and the seeds these hooks name
# (see `before_call`).
FIXTURE_IDS = frozenset(filter(None, os.environ.get("LICENTRIC_FUZZ_FIXTURE_IDS", "").split(",")))
# A policy and entitlements run.sh made for the run to name (see `_known_references`).
SEED_POLICY_ID = os.environ.get("LICENTRIC_FUZZ_SEED_POLICY_ID", "")
SEED_ENTITLEMENTS = [code for code in os.environ.get("LICENTRIC_FUZZ_SEED_ENTITLEMENTS", "").split(",") if code]
# The operations whose body names entitlements by code or id.
ENTITLEMENT_CHANGES = frozenset(
    {"attachPolicyEntitlements", "detachPolicyEntitlements", "attachLicenseEntitlements", "detachLicenseEntitlements"}
)
# An entitlement code and a UUID, as the spec's patterns have them.
CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# A well-formed id that names nothing.
UNKNOWN_ID = "00000000-0000-7000-8000-000000000000"
# ActivateMachineRequest.fingerprint's maxLength.
FINGERPRINT_MAX_LENGTH = 256
# The Idempotency-Key header's maxLength.
IDEMPOTENCY_KEY_MAX_LENGTH = 255


def _schemes(operation) -> set[str]:
    requirements = operation.definition.raw.get("security", operation.schema.raw_schema.get("security", []))
    return {name for requirement in requirements for name in requirement}


CREDENTIALS = {"License": f"License {LICENSE_KEY}", "ApiKey": f"Bearer {API_TOKEN}"}
# Where an operation accepts either scheme (deactivateMachine), the machine-flow run uses the
# license key, as a shipped client deactivating its own machine does, and the full run the API
# key, as an operator does, so the run covers both ways in.
PREFERRED_SCHEMES = ("License", "ApiKey") if REQUIRE_MACHINE_FLOW else ("ApiKey", "License")


# Not cached: the header differs per operation, and a cached provider would hand the first
# operation's credentials to every other one.
@schemathesis.auth(refresh_interval=None)
class LicentricAuth:
    def get(self, case, context):
        schemes = _schemes(context.operation)
        return next((CREDENTIALS[scheme] for scheme in PREFERRED_SCHEMES if scheme in schemes), None)

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": data}


_activations = itertools.count()


def _positive_body(case) -> bool:
    meta = case.meta
    if meta is None:
        return False
    component = meta.components.get(ParameterLocation.BODY)
    mode = component.mode if component is not None else meta.generation.mode
    return mode == GenerationMode.POSITIVE


@schemathesis.hook
def before_call(context, case, kwargs):
    _name_null_link_ids(case)
    _spare_fixtures(case)
    _fresh_fingerprint(case)
    _fresh_idempotency_key(case)
    _one_fingerprint_scope(case)
    _known_references(case)
    _ask_for_signature(case)
    _check_out_terms(case)


@schemathesis.deserializer("application/octet-stream")
def _checked_out_file(ctx, response):
    """A check-out's download: the machine or license file, which is text (Keygen's armored format).

    Decoded, it is checked against the spec's string schema (its maxLength) like any answer;
    without a deserializer the run would skip validating those answers and say so as a warning.
    """
    return response.content.decode("utf-8")

def _name_null_link_ids(case) -> None:
    """Sends the id of nothing where a stateful link carried a null id.

    Links are inferred from field names, and some id fields are null by contract: an event about
    a policy or an API key has no `machineId` or `licenseId`. Following one, schemathesis puts
    the literal `None` in the path, which the server rightly refuses as a malformed id (400) and
    positive_data_acceptance takes for valid data being rejected. A well-formed id that names
    nothing gets the 404 such a link deserves.
    """
    if isinstance(case.path_parameters, dict) and any(value is None for value in case.path_parameters.values()):
        case.path_parameters = {name: UNKNOWN_ID if value is None else value for name, value in case.path_parameters.items()}


def _spare_fixtures(case) -> None:
    """Points writes aimed at the run's own policy, license or API key at an id that names nothing.

    The run finds those ids in list responses like any other, and revoking its API key,
    deleting or suspending its license, or lowering its policy's limit would turn the rest of
    the run into 401s, 403s and 422s that say nothing about the server. Every other resource,
    including the ones the run creates itself, is fair game; these writes now get the 404 of
    an unknown id.
    """
    if case.method.upper() in ("GET", "HEAD", "OPTIONS") or not isinstance(case.path_parameters, dict):
        return
    if any(value in FIXTURE_IDS for value in case.path_parameters.values()):
        case.path_parameters = {
            name: UNKNOWN_ID if value in FIXTURE_IDS else value for name, value in case.path_parameters.items()
        }


def _fresh_fingerprint(case) -> None:
    """Gives each stateful activation a fingerprint no earlier request used.

    The stateful phase replays and extends earlier scenarios, and expects the server to answer
    a replayed step as it did the first time. A fingerprint stays taken after its scenario ends,
    so a replayed activation would get 409 instead of 201; Hypothesis takes that for flaky data
    generation and ends the phase after a few dozen scenarios. A unique suffix keeps each
    scenario's activations its own, as a fresh database per scenario would. FINGERPRINT_TAKEN
    itself is exercised by the other phases, which keep the generated fingerprints. Only valid
    bodies are touched, so an invalid fingerprint stays invalid.
    """
    if _phase(case) != "stateful" or case.operation.definition.raw.get("operationId") != "activateMachine":
        return
    body = case.body
    if not (isinstance(body, dict) and isinstance(body.get("fingerprint"), str) and _positive_body(case)):
        return
    suffix = f"~{next(_activations)}"
    case.body = {**body, "fingerprint": body["fingerprint"][: FINGERPRINT_MAX_LENGTH - len(suffix)] + suffix}


def _fresh_idempotency_key(case) -> None:
    """Makes every valid generated Idempotency-Key one no earlier request used.

    The generator draws keys from a small space ("0", "A", …) and sends the same one with
    different bodies and on different operations, which the server rightly refuses with 422
    IDEMPOTENCY_KEY_REUSED — a refusal positive_data_acceptance would take for valid data being
    rejected, since it cannot know which keys earlier requests used. A unique suffix makes each
    request a first use, as a real client's fresh UUID per request does. Reuse, replay and
    in-use are exercised by test/idempotency.test.ts; an invalid key (too long) stays invalid.
    """
    headers = case.headers or {}
    name = next((n for n in headers if n.lower() == "idempotency-key"), None)
    if name is None or not isinstance(headers[name], str):
        return
    key = headers[name]
    # The header's only constraints are its lengths: out of them it is invalid, and left so.
    if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX_LENGTH:
        return
    # Random rather than counted: run.sh runs schemathesis more than once against one server.
    suffix = f"~{uuid.uuid4().hex}"
    case.headers = {**headers, name: key[: IDEMPOTENCY_KEY_MAX_LENGTH - len(suffix)] + suffix}


def _one_fingerprint_scope(case) -> None:
    """Keeps only `fingerprints` in a valid validation body that carries `fingerprint` too.

    ValidateLicenseRequest says in words that the two do not go together (one machine is named
    one way), and the server refuses both with 400 VALIDATION_FAILED on `/fingerprints`. JSON
    Schema could say it (`not: {required: [fingerprint, fingerprints]}`), but TypeSpec emits no
    `not`, so the generator draws bodies with both, which positive_data_acceptance would take
    for valid data being rejected. test/validate-scopes.test.ts holds the 400; invalid bodies
    are left as they are.
    """
    if case.operation.definition.raw.get("operationId") != "validateLicense" or not _positive_body(case):
        return
    body = case.body
    if isinstance(body, dict) and "fingerprint" in body and "fingerprints" in body:
        case.body = {name: value for name, value in body.items() if name != "fingerprint"}


def _known_references(case) -> None:
    """Makes half of the valid bodies that name a policy or entitlements name ones that exist.

    A license is created under a policy, and entitlements are attached and detached by code or
    id; generated ones name nothing, so nearly every such request is the 422 the spec declares
    for it (UNKNOWN_POLICY, UNKNOWN_ENTITLEMENTS) and the operation's real work is never done,
    which schemathesis reports as a validation mismatch. Half of the valid bodies, chosen by a
    hash of the body so that a replayed step is the same request, name run.sh's seeded policy
    or entitlements instead; the other half keep their generated references and their 422.
    """
    operation = case.operation.definition.raw.get("operationId")
    body = case.body
    if not isinstance(body, dict):
        return
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).digest()
    if digest[0] % 2:
        return
    names_policy = isinstance(body.get("policyId"), str)
    if operation == "createLicense" and SEED_POLICY_ID and names_policy and _positive_body(case):
        case.body = {**body, "policyId": SEED_POLICY_ID}
    elif operation in ENTITLEMENT_CHANGES and SEED_ENTITLEMENTS and _valid_references(body.get("entitlements")):
        # Judged on the list itself: the bodies of these DELETEs do not always say how they were made.
        count = min(len(body["entitlements"]), len(SEED_ENTITLEMENTS))
        case.body = {**body, "entitlements": SEED_ENTITLEMENTS[:count]}


ASK_FOR_SIGNATURE = 'sig1=("@status" "content-digest");alg="ed25519"'


def _ask_for_signature(case) -> None:
    """Asks for a signed answer on half of the requests that do not send `Accept-Signature`.

    A generated header is a random string, never a dictionary asking for `ed25519`, so without
    this no answer of the run would be signed, and the signature headers every response declares
    would never be checked against their schemas. Chosen by a hash of the request, so that a
    replayed step is the same request.
    """
    headers = case.headers or {}
    if any(name.lower() == "accept-signature" for name in headers):
        return
    request = [case.operation.label, case.path_parameters, case.query, case.body]
    digest = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).digest()
    if digest[0] % 2 == 0:
        case.headers = {**headers, "Accept-Signature": ASK_FOR_SIGNATURE}
# The operations that issue machine and license files, and the ttl bounds the server holds them to.
CHECK_OUTS = frozenset({"checkOutMachine", "checkOutLicense", "checkOutLicenseById"})
MIN_TTL, MAX_TTL = 3600, 315360000


def _check_out_terms(case) -> None:
    """Makes half of the valid check-out bodies ones the server can issue a file for.

    A generated `licenseKey` is never the license's (LICENSE_KEY_MISMATCH), a generated `ttl` is
    mostly outside the bounds the server checks (TTL_OUT_OF_RANGE), and `ttl: null` needs a
    policy the run does not have: all 422s the spec declares, after which no file is ever signed.
    Half of the valid bodies, chosen by a hash of the body so that a replayed step is the same
    request, carry the run's license key (which opens its license and the machines run.sh
    activated), a ttl within the bounds, and no null ttl; the other half keep their 422s.
    """
    if case.operation.definition.raw.get("operationId") not in CHECK_OUTS or not _positive_body(case):
        return
    body = case.body
    if not isinstance(body, dict):
        return
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).digest()
    if digest[0] % 2:
        return
    terms = {name: value for name, value in body.items() if not (name == "ttl" and value is None)}
    if isinstance(terms.get("ttl"), int):
        terms["ttl"] = min(max(terms["ttl"], MIN_TTL), MAX_TTL)
    if "licenseKey" in terms or terms.get("encrypt") is True:
        terms["licenseKey"] = LICENSE_KEY
    case.body = terms


def _valid_references(refs) -> bool:
    """Whether `refs` is a list of entitlement codes or ids as the spec allows them (1–100)."""
    return (
        isinstance(refs, list)
        and 1 <= len(refs) <= 100
        and all(isinstance(ref, str) and (CODE.fullmatch(ref) or UUID.fullmatch(ref)) for ref in refs)
    )


# The flow every machine of a shipped client goes through, as (operationId, status).
FLOW = (
    ("activateMachine", 201),
    ("getMachine", 200),
    ("pingMachineHeartbeat", 200),
    ("deactivateMachine", 200),
    ("pingMachineHeartbeat", 404),
)


def _json(response):
    try:
        return response.json()
    except ValueError:
        return None


def _phase(case) -> str | None:
    meta = case.meta
    return str(meta.phase.name) if meta is not None else None


@schemathesis.check
class SoftDeletion:
    """A deactivated machine stays readable with `deletedAt` set and is gone for everything else
    (heartbeats, deactivation, spawning processes)."""

    def __init__(self):
        self.lock = threading.Lock()
        # Deactivation is final (no operation revives a machine), so membership never expires.
        self.deactivated: set[str] = set()
        # How far along FLOW each machine of the stateful phase has come.
        self.progress: dict[str, int] = {}
        self.stateful_ran = False

    def after_response(self, ctx, response, case):
        operation = case.operation.definition.raw.get("operationId")
        status = response.status_code
        body = _json(response)
        machine_id = (case.path_parameters or {}).get("id")
        if operation == "activateMachine" and status == 201 and isinstance(body, dict):
            machine_id = body["data"]["id"]
        if not isinstance(machine_id, str):
            machine_id = None

        with self.lock:
            if _phase(case) == "stateful":
                self.stateful_ran = True
                if machine_id is not None:
                    self._advance(machine_id, operation, status)
            if operation == "deactivateMachine" and status == 200 and machine_id is not None:
                self.deactivated.add(machine_id)
                return
            gone = machine_id in self.deactivated

        # Bodies that break the schema are response_schema_conformance's to report.
        data = body.get("data") if isinstance(body, dict) else None
        if operation == "getMachine" and gone and status == 200 and isinstance(data, dict):
            assert data.get("deletedAt") is not None, (
                f"machine {machine_id} was deactivated, but GET shows it with deletedAt null"
            )
        # A deactivated machine also runs nothing: spawning a process on it is a 404 too.
        if operation in ("pingMachineHeartbeat", "deactivateMachine", "spawnProcess") and gone:
            assert not 200 <= status < 300, (
                f"machine {machine_id} was deactivated, but {operation} answered {status} instead of 404"
            )
        include = (case.query or {}).get("includeDeactivated") if isinstance(case.query, dict) else None
        if operation == "listMachines" and status == 200 and include in (None, False, "false"):
            listed = {item.get("id") for item in data if isinstance(item, dict)} if isinstance(data, list) else set()
            with self.lock:
                shown = sorted(listed & self.deactivated)
            assert not shown, f"the default machine list shows deactivated machines: {', '.join(shown)}"

    def _advance(self, machine_id: str, operation: str, status: int) -> None:
        step = self.progress.get(machine_id, 0)
        if 0 <= step < len(FLOW) and FLOW[step] == (operation, status):
            self.progress[machine_id] = step + 1
        elif step == 0 and operation != "activateMachine":
            # Not activated in this phase: a machine from an earlier phase cannot complete FLOW.
            self.progress[machine_id] = -1

    def after_run(self, ctx):
        if not (REQUIRE_MACHINE_FLOW and self.stateful_ran):
            return
        best = max([0, *self.progress.values()])
        if best < len(FLOW):
            reached = " -> ".join(f"{op} {status}" for op, status in FLOW[:best]) or "nothing"
            raise AssertionError(
                "the stateful phase never took one machine through the whole flow "
                f"({' -> '.join(f'{op} {status}' for op, status in FLOW)}); the furthest it got: {reached}"
            )


@schemathesis.check
def signed_answers(ctx, response, case):
    """An answer to a request asking for an ed25519 signature is signed, over the body it carries."""
    asked = next((v for n, v in (case.headers or {}).items() if n.lower() == "accept-signature"), None)
    if asked != ASK_FOR_SIGNATURE:
        return None
    headers = {name.lower(): value for name, value in response.headers.items()}
    for name in ("content-digest", "signature-input", "signature"):
        assert name in headers, f"asked for a signature, but the {response.status_code} answer has no {name}"
    if len(response.content) != response.content_size:
        return None  # a body schemathesis kept only part of cannot be digested here
    value = headers["content-digest"]
    digest = value[0] if isinstance(value, list) else value
    expected = "sha-256=:" + base64.b64encode(hashlib.sha256(response.content).digest()).decode() + ":"
    assert digest == expected, f"Content-Digest {digest} is not the body's ({expected})"
    return None
