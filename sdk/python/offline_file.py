"""A machine file verified the way shipped software does it: offline, with `cryptography` only.

From the public key (64 hex characters), the license key and the machine's fingerprint. The
steps and their order are Keygen's verifiers' (docs/offline-design.md): armor and envelope, the
signature over "machine/" + enc, then decryption, then the dates.
"""

import base64
import binascii
import hashlib
import json
import secrets
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from licentric_client import AuthenticatedClient
from licentric_client.api.machines import activate_machine, check_out_machine, deactivate_machine
from licentric_client.api.signing_keys import list_signing_keys
from licentric_client.models import (
    ActivateMachineRequest,
    CheckedOutFileResponse,
    CheckOutRequest,
    MachineResponse,
    Problem,
)

BEGIN = "-----BEGIN MACHINE FILE-----"
END = "-----END MACHINE FILE-----"
# How far `issued` may lie ahead of this clock (keygen-go's MaxClockDrift).
MAX_CLOCK_DRIFT_SECONDS = 5 * 60


class FileRefused(Exception):
    """Why a file was refused: `step` is the check that refused it."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step


def verify_machine_file(
    certificate: str, public_key_hex: str, license_key: str, fingerprint: str, now: float | None = None
) -> dict[str, Any]:
    """The JSON:API document a genuine machine file for this machine carries, or FileRefused."""
    armored = certificate.strip()
    if not armored.startswith(BEGIN) or not armored.endswith(END):
        raise FileRefused("envelope", "not a machine file")
    try:
        body = "".join(armored[len(BEGIN) : -len(END)].split())
        envelope = json.loads(base64.b64decode(body, validate=True))
        enc, sig, alg = envelope["enc"], envelope["sig"], envelope["alg"]
    except (binascii.Error, ValueError, KeyError, TypeError) as error:
        raise FileRefused("envelope", "the body is not a certificate") from error
    if not isinstance(enc, str) or not isinstance(sig, str):
        raise FileRefused("envelope", "enc or sig missing")
    if alg != "aes-256-gcm+ed25519":
        raise FileRefused("envelope", f"unsupported algorithm {alg}")

    public_key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
    try:
        public_key.verify(base64.b64decode(sig, validate=True), f"machine/{enc}".encode())
    except (InvalidSignature, binascii.Error) as error:
        raise FileRefused("signature", "the file is not what the server signed") from error

    try:
        ciphertext, iv, tag = (base64.b64decode(part, validate=True) for part in enc.split("."))
    except (binascii.Error, ValueError) as error:
        raise FileRefused("envelope", "enc is not ciphertext.iv.tag") from error
    key = hashlib.sha256((license_key + fingerprint).encode()).digest()
    try:
        # AESGCM takes the 16-byte tag appended to the ciphertext.
        document: dict[str, Any] = json.loads(AESGCM(key).decrypt(iv, ciphertext + tag, None))
    except InvalidTag as error:
        raise FileRefused("decryption", "another license key or fingerprint") from error

    clock = time.time() if now is None else now
    meta = document["meta"]
    if datetime.fromisoformat(meta["issued"]).timestamp() - clock > MAX_CLOCK_DRIFT_SECONDS:
        raise FileRefused("dates", "issued ahead of this clock")
    if meta["expiry"] is not None and clock > datetime.fromisoformat(meta["expiry"]).timestamp():
        raise FileRefused("dates", f"expired at {meta['expiry']}")
    return document


def refusal(certificate: str, public_key_hex: str, license_key: str, fingerprint: str) -> FileRefused | None:
    """The refusal `verify_machine_file` gives, or None when it accepts the file."""
    try:
        verify_machine_file(certificate, public_key_hex, license_key, fingerprint)
    except FileRefused as refused:
        return refused
    return None


def with_one_byte_changed(certificate: str) -> str:
    """The file with one character of its base64 body changed, so that one byte of `enc` changes.

    The envelope stays well-formed JSON, so the refusal must come from the signature, not from a
    parser: the 16th character of the first line holds the low six bits of the envelope's 12th
    byte, which lies inside enc (`{"enc":"` is 8 bytes); flipping the lowest of those bits turns
    a base64 character into another printable ASCII one.
    """
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    lines = certificate.split("\n")
    first = lines[1]
    lines[1] = first[:15] + alphabet[alphabet.index(first[15]) ^ 1] + first[16:]
    return "\n".join(lines)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"smoke check failed: {message}")


def offline_machine_file(base_url: str, license_key: str) -> None:
    """Checks out a machine file through the client, saves it, and reads it back offline.

    Offline means with only the public key fetched before, the license key and the fingerprint.
    """
    as_license = AuthenticatedClient(base_url=base_url, token=license_key, prefix="License")
    fingerprint = f"sdk-python-offline-{secrets.token_hex(6)}"
    activated = activate_machine.sync(client=as_license, body=ActivateMachineRequest(fingerprint=fingerprint))
    check(isinstance(activated, MachineResponse), f"activate: {activated}")
    assert isinstance(activated, MachineResponse)
    machine = activated.data

    # Fetched while online, as shipped software bakes the key in. The operation is public
    # (`security: [{}]`), but openapi-python-client asks an AuthenticatedClient for every
    # operation of a document with a global requirement: the license key's client serves.
    keys = list_signing_keys.sync(client=as_license)
    check(keys is not None and not isinstance(keys, Problem), f"signing keys: {keys}")
    assert keys is not None and not isinstance(keys, Problem)
    ttl = 86_400
    checked_out = check_out_machine.sync(client=as_license, id=machine.id, body=CheckOutRequest(ttl=ttl))
    check(isinstance(checked_out, CheckedOutFileResponse), f"check out: {checked_out}")
    assert isinstance(checked_out, CheckedOutFileResponse)
    file = checked_out.data
    check(file.algorithm == "aes-256-gcm+ed25519", f"a machine file checked out with the license key is encrypted: {file.algorithm}")
    public_key = next((key.public_key for key in keys.data if key.id == file.key_id), None)
    check(public_key is not None, f"the file's key {file.key_id} is published")
    assert public_key is not None
    folder = Path(tempfile.mkdtemp(prefix="licentric-smoke-"))
    path = folder / f"{machine.id}.lic"
    path.write_text(file.certificate)
    print(f"checked out {path} (key {file.key_id}, expires {file.expiry})")

    # Offline from here: the file, the public key, the license key and the fingerprint.
    saved = path.read_text()
    document = verify_machine_file(saved, public_key, license_key, fingerprint)
    data, meta = document["data"], document["meta"]
    check(data["type"] == "machines" and data["id"] == str(machine.id), f"the file is machine {data['id']}")
    check(data["attributes"]["fingerprint"] == fingerprint, "the file names the fingerprint")
    check(meta["ttl"] == ttl, f"the file's ttl is {meta['ttl']}")
    check(
        file.expiry is not None and datetime.fromisoformat(meta["expiry"]) == file.expiry,
        f"the file expires at {meta['expiry']}, the check-out said {file.expiry}",
    )
    print(f"verified offline: machine {data['id']}, expires {meta['expiry']}")

    changed = refusal(with_one_byte_changed(saved), public_key, license_key, fingerprint)
    check(changed is not None and changed.step == "signature", f"a copy with one byte changed must fail its signature: {changed}")
    elsewhere = refusal(saved, public_key, license_key, f"{fingerprint}-other")
    check(elsewhere is not None and elsewhere.step == "decryption", f"another fingerprint must not decrypt it: {elsewhere}")
    print(f"refused: one byte changed ({changed}); another fingerprint ({elsewhere})")

    shutil.rmtree(folder)
    deactivated = deactivate_machine.sync(client=as_license, id=machine.id)
    check(deactivated is not None and not isinstance(deactivated, Problem) and deactivated.data.deleted, f"deactivate: {deactivated}")
