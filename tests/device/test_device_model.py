"""The Device state machine: every command from every state, allowed or refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kernel.eventstore import StoredEvent
from services.device.adapters.codec import device_codec
from services.device.domain import errors
from services.device.domain.model import Device, DeviceStatus

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=60)
S = DeviceStatus


def device_in(state: DeviceStatus) -> Device:
    device = Device("dev-1")
    if state is S.NEW:
        return device
    device.register("Desk phone", 7, False, "simulator")
    if state is S.AWAITING_SCAN or state is S.CONNECTED:
        device.issue_qr("ref-1", LATER)
    if state is S.CONNECTED:
        device.link("ref-1", "15550000001", NOW)
    if state is S.BANNED:
        device.ban("spam")
    if state is S.FAILED:
        device.fail("stream error")
    device.pending.clear()
    assert device.status is state
    return device


COMMANDS = {
    "register": lambda d: d.register("x", 7, False, "simulator"),
    "issue_qr": lambda d: d.issue_qr("ref-2", LATER),
    "link": lambda d: d.link(d.pairing_ref or "ref-1", "15550000002", NOW),
    "disconnect": lambda d: d.disconnect("logout"),
    "ban": lambda d: d.ban("spam"),
    "fail": lambda d: d.fail("boom"),
}

NF, DUP = errors.DeviceNotFoundError, errors.DeviceAlreadyRegisteredError
AC, NC, NQ = errors.AlreadyConnectedError, errors.NotConnectedError, errors.QrNotIssuedError
BAN, FAIL = errors.DeviceBannedError, errors.DeviceFailedError

# state -> command -> the state it leads to, or the error that refuses it
TABLE: dict[DeviceStatus, dict[str, object]] = {
    S.NEW: {"register": S.DISCONNECTED, "issue_qr": NF, "link": NF, "disconnect": NF,
            "ban": NF, "fail": NF},
    S.DISCONNECTED: {"register": DUP, "issue_qr": S.AWAITING_SCAN, "link": NQ,
                     "disconnect": NC, "ban": S.BANNED, "fail": S.FAILED},
    S.AWAITING_SCAN: {"register": DUP, "issue_qr": S.AWAITING_SCAN, "link": S.CONNECTED,
                      "disconnect": S.DISCONNECTED, "ban": S.BANNED, "fail": S.FAILED},
    S.CONNECTED: {"register": DUP, "issue_qr": AC, "link": AC, "disconnect": S.DISCONNECTED,
                  "ban": S.BANNED, "fail": S.FAILED},
    S.BANNED: {"register": DUP, "issue_qr": BAN, "link": BAN, "disconnect": BAN,
               "ban": BAN, "fail": BAN},
    S.FAILED: {"register": DUP, "issue_qr": S.AWAITING_SCAN, "link": NQ, "disconnect": NC,
               "ban": S.BANNED, "fail": FAIL},
}

CASES = [(state, cmd, outcome) for state, row in TABLE.items() for cmd, outcome in row.items()]


def test_table_covers_every_state_and_command():
    assert set(TABLE) == set(DeviceStatus)
    assert all(set(row) == set(COMMANDS) for row in TABLE.values())


@pytest.mark.parametrize(("state", "command", "outcome"), CASES,
                         ids=[f"{s.value}-{c}" for s, c, _ in CASES])
def test_transition(state, command, outcome):
    device = device_in(state)
    if isinstance(outcome, DeviceStatus):
        COMMANDS[command](device)
        assert device.status is outcome
        assert len(device.pending) == 1
    else:
        with pytest.raises(outcome):
            COMMANDS[command](device)
        assert device.status is state
        assert device.pending == []


def test_refusals_are_domain_errors_with_api_codes():
    with pytest.raises(errors.DeviceError) as caught:
        device_in(S.CONNECTED).issue_qr("r", LATER)
    assert caught.value.code == "ALREADY_CONNECTED"
    assert caught.value.details == {"device_id": "dev-1"}


def test_scanning_a_replaced_qr_is_refused():
    device = device_in(S.AWAITING_SCAN)
    device.issue_qr("ref-2", LATER)
    with pytest.raises(errors.InvalidPairingRefError):
        device.link("ref-1", "15550000001", NOW)
    device.link("ref-2", "15550000001", NOW)
    assert device.phone_number == "15550000001"


def test_scanning_an_expired_qr_is_refused():
    device = device_in(S.AWAITING_SCAN)
    with pytest.raises(errors.QrExpiredError):
        device.link("ref-1", "15550000001", LATER + timedelta(seconds=1))
    assert device.status is S.AWAITING_SCAN


def test_invalid_device_id_is_refused():
    with pytest.raises(errors.InvalidDeviceIdError):
        Device("bad id/with spaces").register("x", 1, False, "simulator")


def test_state_is_rebuilt_from_its_stored_events():
    codec = device_codec()
    device = Device("dev-1")
    device.register("Desk", 7, True, "simulator")
    device.issue_qr("ref-1", LATER)
    device.link("ref-1", "15550000001", NOW)
    device.disconnect("phone offline")
    stored = [StoredEvent(i, f"e{i}", "device-dev-1", i, n.event_type, n.payload, {}, NOW)
              for i, n in enumerate((codec.encode(e) for e in device.pending), start=1)]
    again = Device.rebuild("dev-1", [codec.decode(s) for s in stored])
    assert (again.status, again.reason, again.phone_number) == (
        S.DISCONNECTED, "phone offline", "15550000001")
    assert (again.owner_user_id, again.pooled, again.version) == (7, True, 4)
