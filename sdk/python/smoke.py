"""The SDK smoke flow in Python, with the client openapi-python-client generates.

Run by `make sdk-check` against a live server (see sdk/run-smoke.sh).
"""

import os
import secrets

from licentric_client import AuthenticatedClient
from licentric_client.api.entitlements import create_entitlement, delete_entitlement
from licentric_client.api.events import list_events
from licentric_client.api.licenses import create_license, delete_license, validate_license
from licentric_client.api.machines import (
    activate_machine,
    deactivate_machine,
    list_machines,
    ping_machine_heartbeat,
)
from licentric_client.api.policies import (
    attach_policy_entitlements,
    create_policy,
    delete_policy,
    detach_policy_entitlements,
    list_policy_entitlements,
)
from licentric_client.api.processes import get_process, process_heartbeat, release_process, spawn_process
from licentric_client.api.products import create_product, delete_product, get_product
from licentric_client.models import (
    ActivateMachineRequest,
    CreatedLicenseResponse,
    CreateEntitlementRequest,
    CreateLicenseRequest,
    CreatePolicyRequest,
    CreateProductRequest,
    DeletionResponse,
    EntitlementRefsRequest,
    EntitlementResponse,
    LicenseValidationResponse,
    MachineResponse,
    Platform,
    PolicyEntitlementList,
    PolicyResponse,
    Problem,
    ProcessLeaseResponse,
    ProcessLeasingStrategy,
    ProcessReleaseResponse,
    ProcessResponse,
    ProductResponse,
    SpawnProcessRequest,
    ValidateLicenseRequest,
)
from offline_file import offline_machine_file
from signed_answer import signed_validation


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"smoke check failed: {message}")


def main() -> None:
    base_url = os.environ["LICENTRIC_BASE_URL"]
    # The License scheme is an HTTP auth scheme of its own; the client takes its name as prefix.
    as_license = AuthenticatedClient(base_url=base_url, token=os.environ["LICENTRIC_LICENSE_KEY"], prefix="License")
    as_api_key = AuthenticatedClient(base_url=base_url, token=os.environ["LICENTRIC_API_KEY"])
    fingerprint = f"sdk-python-{secrets.token_hex(6)}"

    activated = activate_machine.sync(
        client=as_license,
        body=ActivateMachineRequest(fingerprint=fingerprint, name="Python smoke", platform=Platform.LINUX, cores=4),
    )
    check(isinstance(activated, MachineResponse), f"activate: {activated}")
    assert isinstance(activated, MachineResponse)
    machine = activated.data
    check(machine.fingerprint == fingerprint and machine.deleted_at is None, "activate returns the active machine")
    print(f"activated {machine.id}")

    ping = ping_machine_heartbeat.sync(client=as_license, id=machine.id)
    check(ping is not None and not isinstance(ping, Problem) and ping.data.id == machine.id, f"heartbeat: {ping}")
    assert ping is not None and not isinstance(ping, Problem)
    print(f"heartbeat at {ping.data.last_heartbeat_at.isoformat()}")

    listed = list_machines.sync(client=as_api_key, license_id=machine.license_id, limit=100)
    check(listed is not None and not isinstance(listed, Problem), f"list: {listed}")
    assert listed is not None and not isinstance(listed, Problem)
    check(any(m.id == machine.id for m in listed.data), "list shows the machine")
    print(f"listed {len(listed.data)} machine(s)")

    deactivated = deactivate_machine.sync(client=as_license, id=machine.id)
    check(deactivated is not None and not isinstance(deactivated, Problem) and deactivated.data.deleted, f"deactivate: {deactivated}")
    print(f"deactivated {machine.id}")

    events = list_events.sync(client=as_api_key, machine_id=machine.id, limit=100)
    check(events is not None and not isinstance(events, Problem), f"events: {events}")
    assert events is not None and not isinstance(events, Problem)
    types = [e.type_.value for e in events.data]
    check(types == ["machine.activated", "machine.deactivated"], f"the machine's events are {types}")
    check(events.data[1].data["reason"] == "MANUAL", "the deactivation says why")
    print(f"events: {', '.join(types)}")

    again = activate_machine.sync(client=as_license, body=ActivateMachineRequest(fingerprint=fingerprint))
    check(isinstance(again, MachineResponse), f"re-activate: {again}")
    assert isinstance(again, MachineResponse)
    twice = activate_machine.sync_detailed(client=as_license, body=ActivateMachineRequest(fingerprint=fingerprint))
    check(twice.status_code == 409, f"second activation must be 409, got {twice.status_code}")
    problem = twice.parsed
    check(isinstance(problem, Problem), f"the 409 body parses as a Problem: {twice.content!r}")
    assert isinstance(problem, Problem)
    check(problem.code == "FINGERPRINT_TAKEN", f"code is {problem.code}")
    check(problem.machine_id == again.data.id, "the problem names the machine holding the fingerprint")
    print(f"second activation refused: {problem.code} (machine {problem.machine_id})")

    deactivate_machine.sync(client=as_license, id=again.data.id)
    products_and_entitlements(base_url, as_api_key)
    # A machine file checked out, saved and verified offline with `cryptography` alone.
    offline_machine_file(base_url, os.environ["LICENTRIC_LICENSE_KEY"])
    # An answer signed for this request (RFC 9421), so a fake server's recorded "valid" is useless.
    signed_validation(base_url, os.environ["LICENTRIC_LICENSE_KEY"])
    processes(base_url, as_api_key)
    print("python smoke: ok")


def products_and_entitlements(base_url: str, as_api_key: AuthenticatedClient) -> None:
    """A license of a product's policy, validated for its product and features."""
    # Codes are unique per server, so each run makes its own.
    suffix = secrets.token_hex(4).upper()
    created_product = create_product.sync(
        client=as_api_key, body=CreateProductRequest(name="Python smoke", code=f"SDK_PY_{suffix}")
    )
    check(isinstance(created_product, ProductResponse), f"create product: {created_product}")
    assert isinstance(created_product, ProductResponse)
    product = created_product.data
    print(f"created product {product.code}")

    created_entitlement = create_entitlement.sync(
        client=as_api_key, body=CreateEntitlementRequest(code=f"SDK_PY_EXPORT_{suffix}", name="Python smoke export")
    )
    check(isinstance(created_entitlement, EntitlementResponse), f"create entitlement: {created_entitlement}")
    assert isinstance(created_entitlement, EntitlementResponse)
    entitlement = created_entitlement.data
    print(f"created entitlement {entitlement.code}")

    created_policy = create_policy.sync(
        client=as_api_key, body=CreatePolicyRequest(name="Python smoke", product_id=product.id)
    )
    check(isinstance(created_policy, PolicyResponse), f"create policy: {created_policy}")
    assert isinstance(created_policy, PolicyResponse)
    policy = created_policy.data
    check(policy.product_id == product.id, "the policy belongs to the product")
    attached = attach_policy_entitlements.sync(
        client=as_api_key, id=policy.id, body=EntitlementRefsRequest(entitlements=[entitlement.code])
    )
    check(isinstance(attached, PolicyEntitlementList), f"attach: {attached}")
    listed = list_policy_entitlements.sync(client=as_api_key, id=policy.id)
    check(
        isinstance(listed, PolicyEntitlementList) and [e.code for e in listed.data] == [entitlement.code],
        f"the policy's entitlements: {listed}",
    )
    print(f"policy {policy.id} grants {entitlement.code}")

    created_license = create_license.sync(client=as_api_key, body=CreateLicenseRequest(policy_id=policy.id))
    check(isinstance(created_license, CreatedLicenseResponse), f"create license: {created_license}")
    assert isinstance(created_license, CreatedLicenseResponse)
    license_ = created_license.data
    check(license_.product_id == product.id, "the license says which product")
    as_product_license = AuthenticatedClient(base_url=base_url, token=license_.key, prefix="License")
    print(f"created license {license_.id}")

    entitled = validate_license.sync(
        client=as_product_license, body=ValidateLicenseRequest(product=product.code, entitlements=[entitlement.code])
    )
    check(isinstance(entitled, LicenseValidationResponse), f"validate: {entitled}")
    assert isinstance(entitled, LicenseValidationResponse)
    check(
        entitled.data.valid and entitled.data.code.value == "VALID",
        f"validate for the product and its entitlement: {entitled.data.code.value}",
    )
    check(entitlement.code in entitled.data.entitlements, "validate lists the entitlement")
    print(f"validated: {entitled.data.code.value} with {', '.join(entitled.data.entitlements)}")

    lacking = f"SDK_PY_ABSENT_{suffix}"
    missing = validate_license.sync(
        client=as_product_license,
        body=ValidateLicenseRequest(product=product.code, entitlements=[entitlement.code, lacking]),
    )
    check(isinstance(missing, LicenseValidationResponse), f"validate: {missing}")
    assert isinstance(missing, LicenseValidationResponse)
    check(
        not missing.data.valid and missing.data.code.value == "ENTITLEMENTS_MISSING",
        f"validate for a lacking entitlement: {missing.data.code.value}",
    )
    missing_codes = missing.data.missing_entitlements
    check(missing_codes == [lacking], f"missing entitlements are {missing_codes}")
    print(f"validated: {missing.data.code.value} ({', '.join(missing_codes)})")

    elsewhere = validate_license.sync(
        client=as_product_license, body=ValidateLicenseRequest(product=f"SDK_PY_OTHER_{suffix}")
    )
    check(isinstance(elsewhere, LicenseValidationResponse), f"validate: {elsewhere}")
    assert isinstance(elsewhere, LicenseValidationResponse)
    check(
        not elsewhere.data.valid and elsewhere.data.code.value == "PRODUCT_SCOPE_MISMATCH",
        f"validate for another product: {elsewhere.data.code.value}",
    )
    print(f"validated for another product: {elsewhere.data.code.value}")

    detached = detach_policy_entitlements.sync(
        client=as_api_key, id=policy.id, body=EntitlementRefsRequest(entitlements=[entitlement.code])
    )
    check(isinstance(detached, PolicyEntitlementList) and detached.data == [], f"detach: {detached}")
    # In this order: a policy with licenses, or a product with policies, is refused (409).
    for what, deleted in (
        ("license", delete_license.sync(client=as_api_key, id=license_.id)),
        ("policy", delete_policy.sync(client=as_api_key, id=policy.id)),
        ("product", delete_product.sync(client=as_api_key, id=product.id)),
        ("entitlement", delete_entitlement.sync(client=as_api_key, id=entitlement.id)),
    ):
        check(isinstance(deleted, DeletionResponse) and deleted.data.deleted, f"delete {what}: {deleted}")
    gone = get_product.sync_detailed(client=as_api_key, id=product.id)
    check(gone.status_code == 404, f"a deleted product must be 404, got {gone.status_code}")
    print("deleted the license, the policy, the product and the entitlement")


def processes(base_url: str, as_api_key: AuthenticatedClient) -> None:
    """Concurrent seats: one floating seat is spawned, refused twice, kept alive and released."""
    created = create_policy.sync(
        client=as_api_key,
        body=CreatePolicyRequest(
            name="Python smoke seats", max_processes=1, process_leasing_strategy=ProcessLeasingStrategy.PER_LICENSE
        ),
    )
    check(isinstance(created, PolicyResponse), f"create policy: {created}")
    assert isinstance(created, PolicyResponse)
    seats = created.data
    check(seats.max_processes == 1, "the policy has one seat")
    issued = create_license.sync(client=as_api_key, body=CreateLicenseRequest(policy_id=seats.id))
    check(isinstance(issued, CreatedLicenseResponse), f"create license: {issued}")
    assert isinstance(issued, CreatedLicenseResponse)
    as_seat_license = AuthenticatedClient(base_url=base_url, token=issued.data.key, prefix="License")
    node = activate_machine.sync(
        client=as_seat_license, body=ActivateMachineRequest(fingerprint=f"sdk-python-node-{secrets.token_hex(6)}")
    )
    check(isinstance(node, MachineResponse), f"activate: {node}")
    assert isinstance(node, MachineResponse)
    machine_id = node.data.id

    first = spawn_process.sync(client=as_seat_license, id=machine_id, body=SpawnProcessRequest(pid="python-smoke"))
    check(isinstance(first, ProcessResponse), f"spawn: {first}")
    assert isinstance(first, ProcessResponse)
    lease = first.data
    check(lease.machine_id == machine_id and lease.heartbeat_status.value == "ALIVE", "spawn returns the live process")
    print(f"spawned process {lease.id}")
    second = spawn_process.sync_detailed(client=as_seat_license, id=machine_id, body=SpawnProcessRequest())
    check(second.status_code == 422, f"a second spawn must be 422, got {second.status_code}")
    refused = second.parsed
    check(isinstance(refused, Problem), f"the 422 body parses as a Problem: {second.content!r}")
    assert isinstance(refused, Problem)
    check(refused.code == "PROCESS_LIMIT_EXCEEDED" and refused.process_count == 1, f"refusal: {refused}")
    print(f"second spawn refused: {refused.code} ({refused.process_count} held)")

    beat = process_heartbeat.sync(client=as_seat_license, id=lease.id)
    check(isinstance(beat, ProcessLeaseResponse), f"process heartbeat: {beat}")
    assert isinstance(beat, ProcessLeaseResponse)
    print(f"process heartbeat, lease until {beat.data.next_heartbeat_at.isoformat()}")
    released = release_process.sync(client=as_seat_license, id=lease.id)
    check(isinstance(released, ProcessReleaseResponse) and released.data.deleted, f"release: {released}")
    again = spawn_process.sync(client=as_seat_license, id=machine_id, body=SpawnProcessRequest())
    check(isinstance(again, ProcessResponse), f"the released seat is free at once: {again}")
    assert isinstance(again, ProcessResponse)
    print(f"released {lease.id}; spawned {again.data.id} in its seat")

    # Deactivating the machine releases its process; then the license and the policy can go.
    deactivate_machine.sync(client=as_seat_license, id=machine_id)
    gone = get_process.sync_detailed(client=as_api_key, id=again.data.id)
    check(gone.status_code == 404, f"a deactivated machine's process must be 404, got {gone.status_code}")
    delete_license.sync(client=as_api_key, id=issued.data.id)
    delete_policy.sync(client=as_api_key, id=seats.id)
    print("processes: spawned, refused past the limit, kept alive, released")


if __name__ == "__main__":
    main()
