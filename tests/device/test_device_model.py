"""The Device state machine: every command from every state, allowed or refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kernel.eventstore import StoredEvent
from services.device.adapters.codec import device_codec
from services.device.domain import errors
from services.device.domain.model import Device, DeviceStatus, effective_status

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=60)
S = DeviceStatus

# Starting points: each status, plus the two that keep a linked session while down.
SETUPS = {
    "new": [],
    "disconnected": ["register"],
    "reconnecting": ["register", "qr", "link", "drop"],
    "awaiting_scan": ["register", "qr"],
    "connected": ["register", "qr", "link"],
    "banned": ["register", "ban"],
    "failed": ["register", "fail"],
    "failed_linked": ["register", "qr", "link", "fail"],
    "retired": ["register", "retire"],
}
STEPS = {
    "register": lambda d: d.register("Desk phone", 7, False, "simulator"),
    "qr": lambda d: d.issue_qr("ref-1", LATER),
    "link": lambda d: d.link("ref-1", "15550000001", NOW),
    "drop": lambda d: d.disconnect("network lost"),
    "ban": lambda d: d.ban("spam"),
    "fail": lambda d: d.fail("stream error"),
    "retire": lambda d: d.retire("instance deleted"),
}


def device_in(setup: str) -> Device:
    device = Device("dev-1")
    for step in SETUPS[setup]:
        STEPS[step](device)
    device.pending.clear()
    return device


COMMANDS = {
    "register": lambda d: d.register("x", 7, False, "simulator"),
    "issue_qr": lambda d: d.issue_qr("ref-2", LATER),
    "link": lambda d: d.link(d.pairing_ref or "ref-1", "15550000002", NOW),
    "disconnect": lambda d: d.disconnect("network lost"),
    "log_out": lambda d: d.log_out("logged out"),
    "reconnect": lambda d: d.reconnect(NOW),
    "ban": lambda d: d.ban("spam"),
    "fail": lambda d: d.fail("boom"),
    "retire": lambda d: d.retire("instance deleted"),
}

NF, DUP = errors.DeviceNotFoundError, errors.DeviceAlreadyRegisteredError
AC, NC, NQ = errors.AlreadyConnectedError, errors.NotConnectedError, errors.QrNotIssuedError
BAN, FAIL = errors.DeviceBannedError, errors.DeviceFailedError
NOOP = "no event"
D, A, C = S.DISCONNECTED, S.AWAITING_SCAN, S.CONNECTED
B, F, R = S.BANNED, S.FAILED, S.RETIRED

# setup -> command -> the state it leads to (one event), NOOP, or the error refusing it
TABLE: dict[str, dict[str, object]] = {
    "new": {"register": D, "issue_qr": NF, "link": NF, "disconnect": NF, "log_out": NF,
            "reconnect": NF, "ban": NF, "fail": NF, "retire": NF},
    "disconnected": {"register": DUP, "issue_qr": A, "link": NQ, "disconnect": NC,
                     "log_out": NOOP, "reconnect": NC, "ban": B, "fail": F, "retire": R},
    "reconnecting": {"register": DUP, "issue_qr": A, "link": NQ, "disconnect": NC,
                     "log_out": D, "reconnect": C, "ban": B, "fail": F, "retire": R},
    "awaiting_scan": {"register": DUP, "issue_qr": A, "link": C, "disconnect": D,
                      "log_out": D, "reconnect": NC, "ban": B, "fail": F, "retire": R},
    "connected": {"register": DUP, "issue_qr": AC, "link": AC, "disconnect": D,
                  "log_out": D, "reconnect": NOOP, "ban": B, "fail": F, "retire": R},
    "banned": {"register": DUP, "issue_qr": BAN, "link": BAN, "disconnect": BAN,
               "log_out": BAN, "reconnect": BAN, "ban": BAN, "fail": BAN, "retire": R},
    "failed": {"register": DUP, "issue_qr": A, "link": NQ, "disconnect": NC,
               "log_out": NOOP, "reconnect": NC, "ban": B, "fail": FAIL, "retire": R},
    "failed_linked": {"register": DUP, "issue_qr": A, "link": NQ, "disconnect": NC,
                      "log_out": D, "reconnect": C, "ban": B, "fail": FAIL, "retire": R},
    "retired": {"register": DUP, "issue_qr": NF, "link": NF, "disconnect": NF,
                "log_out": NF, "reconnect": NF, "ban": NF, "fail": NF, "retire": NOOP},
}

CASES = [(setup, cmd, outcome) for setup, row in TABLE.items() for cmd, outcome in row.items()]


def test_table_covers_every_state_and_command():
    assert {device_in(setup).status for setup in TABLE} == set(DeviceStatus)
    assert all(set(row) == set(COMMANDS) for row in TABLE.values())


@pytest.mark.parametrize(("setup", "command", "outcome"), CASES,
                         ids=[f"{s}-{c}" for s, c, _ in CASES])
def test_transition(setup, command, outcome):
    device = device_in(setup)
    before = device.status
    if outcome == NOOP:
        COMMANDS[command](device)
        assert (device.status, device.pending) == (before, [])
    elif isinstance(outcome, DeviceStatus):
        COMMANDS[command](device)
        assert device.status is outcome
        assert len(device.pending) == 1
    else:
        with pytest.raises(outcome):  # type: ignore[call-overload]
            COMMANDS[command](device)
        assert device.status is before
        assert device.pending == []


def test_a_network_loss_keeps_the_link_and_a_logout_ends_it():
    device = device_in("connected")
    device.disconnect("network lost")
    assert device.session_linked and device.wants_session
    device.reconnect(LATER)
    assert (device.status, device.connected_at) == (S.CONNECTED, LATER)
    device.log_out("logged out")
    assert not device.session_linked and not device.wants_session
    with pytest.raises(NC):
        device.reconnect(LATER)


def test_an_unscanned_qr_shows_as_disconnected_once_expired():
    device = device_in("awaiting_scan")
    assert effective_status(device.status, device.qr_expires_at, NOW) is A
    assert effective_status(device.status, device.qr_expires_at, LATER) is D
    assert effective_status(C, None, LATER) is C


def test_a_link_the_transport_vouches_for_needs_no_qr():
    device = device_in("disconnected")
    device.link("", "15550000009", NOW)
    assert (device.status, device.phone_number, device.connected_at) == (C, "15550000009", NOW)


def test_refusals_are_domain_errors_with_api_codes():
    with pytest.raises(errors.DeviceError) as caught:
        device_in("connected").issue_qr("r", LATER)
    assert caught.value.code == "ALREADY_CONNECTED"
    assert caught.value.details == {"device_id": "dev-1"}


def test_scanning_a_replaced_qr_is_refused():
    device = device_in("awaiting_scan")
    device.issue_qr("ref-2", LATER)
    with pytest.raises(errors.InvalidPairingRefError):
        device.link("ref-1", "15550000001", NOW)
    device.link("ref-2", "15550000001", NOW)
    assert device.phone_number == "15550000001"


def test_scanning_an_expired_qr_is_refused():
    device = device_in("awaiting_scan")
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
    assert again.session_linked and again.connected_at == NOW
