"""The SDK smoke flow in Python, with the client openapi-python-client generates.

Run by `make sdk-check` against a live server (see sdk/run-smoke.sh).
"""

import os
import secrets

from licentric_client import AuthenticatedClient
from licentric_client.api.events import list_events
from licentric_client.api.machines import (
    activate_machine,
    deactivate_machine,
    list_machines,
    ping_machine_heartbeat,
)
from licentric_client.models import ActivateMachineRequest, MachineResponse, Platform, Problem


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
    print("python smoke: ok")


if __name__ == "__main__":
    main()
