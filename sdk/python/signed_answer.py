"""A signed answer, asked for through the client's typed `accept_signature` parameter.

Checked with `hashlib` and `cryptography` alone: the Content-Digest against the body bytes, the
nonce echoed in the body, and the Ed25519 signature over the RFC 9421 signature base.
"""

import base64
import hashlib
import re
import secrets
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from licentric_client import AuthenticatedClient
from licentric_client.api.licenses import validate_license
from licentric_client.api.signing_keys import list_signing_keys
from licentric_client.models import (
    LicenseValidationMeta,
    LicenseValidationResponse,
    SigningKeyList,
    ValidateLicenseRequest,
)

ACCEPT_SIGNATURE = (
    'sig1=("@status" "content-type" "content-digest" "@method";req "@path";req "@query";req);alg="ed25519"'
)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"smoke check failed: {message}")


def signature_base(components: dict[str, str], signature_params: str) -> str:
    """RFC 9421 §2.5's signature base; a covered component without a value is refused, not skipped."""
    listed = re.match(r"\(([^)]*)\)", signature_params)
    check(listed is not None, f"Signature-Input is not an inner list: {signature_params}")
    assert listed is not None
    lines = []
    for component in listed.group(1).split(" "):
        check(component in components, f"unexpected covered component {component}")
        lines.append(f"{component}: {components[component]}")
    return "\n".join([*lines, f'"@signature-params": {signature_params}'])


def signed_validation(base_url: str, license_key: str) -> None:
    as_license = AuthenticatedClient(base_url=base_url, token=license_key, prefix="License")
    nonce = f"sdk-python-{secrets.token_hex(8)}"
    answer = validate_license.sync_detailed(
        client=as_license, body=ValidateLicenseRequest(nonce=nonce), accept_signature=ACCEPT_SIGNATURE
    )
    body = answer.parsed
    check(isinstance(body, LicenseValidationResponse), f"signed validate: {answer.content!r}")
    assert isinstance(body, LicenseValidationResponse)
    check(body.data.valid, f"the smoke license validates: {body.data.code.value}")
    echoed = body.meta.nonce if isinstance(body.meta, LicenseValidationMeta) else None
    check(echoed == nonce, f"meta.nonce is {echoed!r}, sent {nonce!r}")

    digest = f"sha-256=:{base64.b64encode(hashlib.sha256(answer.content).digest()).decode()}:"
    check(
        answer.headers.get("content-digest") == digest,
        f"Content-Digest is {answer.headers.get('content-digest')}, the body's is {digest}",
    )
    signature_input = answer.headers.get("signature-input", "")
    signature = answer.headers.get("signature", "")
    check(
        signature_input.startswith("sig1=") and signature_input.endswith(';alg="ed25519"'),
        f"Signature-Input: {signature_input}",
    )
    check(re.fullmatch(r"sig1=:[A-Za-z0-9+/]+={0,2}:", signature) is not None, f"Signature: {signature}")

    key_id = re.search(r';keyid="([^"\\]*)"', signature_input)
    check(key_id is not None, f"Signature-Input names no keyid: {signature_input}")
    assert key_id is not None
    keys = list_signing_keys.sync(client=as_license)
    check(isinstance(keys, SigningKeyList), f"signing keys: {keys}")
    assert isinstance(keys, SigningKeyList)
    public_keys = [key.public_key for key in keys.data if str(key.id) == key_id.group(1)]
    check(len(public_keys) == 1, f"the signing key {key_id.group(1)} is published")
    public_key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_keys[0]))
    # The request as this client sent it: the operation's path under the base URL, no query.
    base = signature_base(
        {
            '"@status"': str(answer.status_code),
            '"content-type"': answer.headers.get("content-type", "").strip(),
            '"content-digest"': digest,
            '"@method";req': "POST",
            '"@path";req': urlsplit(base_url).path.rstrip("/") + "/licenses/actions/validate",
            '"@query";req': "?",
        },
        signature_input.removeprefix("sig1="),
    )
    signature_bytes = base64.b64decode(signature.removeprefix("sig1=:").removesuffix(":"))
    try:
        public_key.verify(signature_bytes, base.encode())
    except InvalidSignature:
        raise SystemExit(f"smoke check failed: the signature does not verify over:\n{base}") from None
    # The same check must refuse an answer recorded for another nonce.
    other_body = base.replace(digest, f"sha-256=:{base64.b64encode(bytes(32)).decode()}:")
    try:
        public_key.verify(signature_bytes, other_body.encode())
        raise SystemExit("smoke check failed: a signature must not verify over another body")
    except InvalidSignature:
        pass
    print(f"signed validation: {body.data.code.value}, nonce {echoed}, key {key_id.group(1)}")
