"""The whatsmeow transport against the neonize stand-in: sends (WhatsApp's ids kept in
the ledger, at most once), receipts, and what whatsmeow reports about the session."""

from __future__ import annotations

import pytest

pytest.importorskip("neonize", reason="the whatsmeow extra (neonize) is not installed")

from neonize.aioze.events import ReceiptEv, TemporaryBanEv  # noqa: E402
from neonize.exc import SendMessageError  # noqa: E402
from neonize.proto.Neonize_pb2 import ConnectFailureReason  # noqa: E402

from services.device.adapters.send_ledger import OutcomeUnknownError  # noqa: E402
from services.device.adapters.whatsmeow.session import State  # noqa: E402
from services.device.app.transport import (  # noqa: E402
    Banned,
    Linked,
    Receipt,
    ReceiptKind,
    Reconnected,
    SessionDownError,
    SessionFailed,
    TransportError,
    Unlinked,
)
from tests.device.transports.neonize_standin import FakeWhatsApp  # noqa: E402
from tests.device.transports.whatsmeow_support import (  # noqa: E402
    PHONE,
    eventually,
    link,
    online,
    whatsmeow,
)

TO = "+1 555 0199"


@pytest.fixture
def far() -> FakeWhatsApp:
    return FakeWhatsApp()


@pytest.fixture
async def transport(tmp_path, ledger, far, recorder):
    transport = whatsmeow(tmp_path, ledger, far, recorder)
    yield transport
    await transport.close()


async def test_a_send_goes_out_once_under_whatsapp_s_id(transport, far, recorder):
    await link(transport, far, recorder)
    sent = await transport.send("dev-1", TO, "hello @15550000 http://x.example", "sb-m1")
    [out] = far.sent
    assert (out.device_id, out.to.User, out.to.Server, out.text) == \
        ("dev-1", "15550199", "s.whatsapp.net", "hello @15550000 http://x.example")
    assert sent.transport_message_id == "sb-m1"
    assert await transport.send("dev-1", TO, "hello", "sb-m1") == sent  # from the ledger
    assert (len(far.sent), far.send_calls) == (1, 1)
    assert (await transport.ledger.entry("sb-m1")).remote_id == out.message_id


async def test_a_resend_after_a_restart_is_recognised(tmp_path, ledger, far, recorder):
    first = whatsmeow(tmp_path, ledger, far, recorder)
    await link(first, far, recorder)
    sent = await first.send("dev-1", TO, "hello", "sb-m1")
    await first.close()  # "crash" before MessageSent was recorded
    again = whatsmeow(tmp_path, ledger, far, recorder)
    try:
        assert await again.resume("dev-1", "447700900123")
        assert await again.send("dev-1", TO, "hello", "sb-m1") == sent
        assert far.send_calls == 1
    finally:
        await again.close()


async def test_receipts_name_our_message_ids(transport, far, recorder):
    client = await link(transport, far, recorder)
    await transport.send("dev-1", TO, "one", "sb-m1")
    await transport.send("dev-1", TO, "two", "sb-m2")
    first, second = (m.message_id for m in far.sent)
    await far.receipt(client, ["3EB0NOT0OURS", first, second], ReceiptEv.DELIVERED)
    await far.receipt(client, [first], ReceiptEv.READ_SELF)  # our other device read it
    await far.receipt(client, [second], ReceiptEv.READ, at=1_700_000_100)
    receipts = await recorder.wait_count(4)
    assert receipts[1:] == [
        Receipt("dev-1", "sb-m1", ReceiptKind.DELIVERED, receipts[1].at),
        Receipt("dev-1", "sb-m2", ReceiptKind.DELIVERED, receipts[1].at),
        Receipt("dev-1", "sb-m2", ReceiptKind.READ, receipts[3].at)]
    assert receipts[3].at.timestamp() == 1_700_000_100


async def test_a_send_cut_off_mid_way_is_never_repeated(transport, far, recorder):
    await link(transport, far, recorder)
    far.send_failures.append(SendMessageError("timed out waiting for message send response"))
    with pytest.raises(OutcomeUnknownError):
        await transport.send("dev-1", TO, "hello", "sb-m1")
    with pytest.raises(OutcomeUnknownError):
        await transport.send("dev-1", TO, "hello", "sb-m1")
    assert far.send_calls == 1 and far.sent == []


async def test_a_send_that_never_left_is_handed_back_and_may_go_later(transport, far, recorder):
    await link(transport, far, recorder)
    far.send_failures.append(SendMessageError("websocket not connected"))
    with pytest.raises(SessionDownError):
        await transport.send("dev-1", TO, "hello", "sb-m1")
    await transport.send("dev-1", TO, "hello", "sb-m1")
    assert len(far.sent) == 1


async def test_a_refused_send_fails_with_whatsapp_s_reason(transport, far, recorder):
    await link(transport, far, recorder)
    far.send_failures.append(SendMessageError("server returned error 479"))
    with pytest.raises(TransportError, match="refused the message: server returned error 479") \
            as caught:
        await transport.send("dev-1", TO, "hello", "sb-m1")
    assert not isinstance(caught.value, SessionDownError)


async def test_no_session_no_send(transport, far):
    with pytest.raises(SessionDownError):
        await transport.send("dev-9", TO, "hello", "sb-m1")
    assert far.send_calls == 0


async def test_a_network_drop_and_whatsmeow_s_own_reconnect(transport, far, recorder):
    client = await link(transport, far, recorder)
    await far.drop(client)
    assert await recorder.wait_for(lambda e: isinstance(e, Unlinked)) == \
        Unlinked("dev-1", "connection to WhatsApp lost", logged_out=False)
    with pytest.raises(SessionDownError):
        await transport.send("dev-1", TO, "hello", "sb-m1")
    await far.come_back(client)
    assert await recorder.wait_for(lambda e: isinstance(e, Reconnected)) == Reconnected("dev-1")
    await online(transport, "dev-1")
    await transport.send("dev-1", TO, "hello", "sb-m1")
    assert len(far.clients) == 1  # no client of our own: whatsmeow reconnected


async def test_keepalive_timeouts_take_the_session_down_until_restored(transport, far, recorder):
    client = await link(transport, far, recorder)
    await far.keepalive_timeout(client, failures=3)
    await far.keepalive_timeout(client, failures=4)
    await far.keepalive_restored(client)
    await recorder.wait_for(lambda e: isinstance(e, Reconnected))
    assert recorder.events[1:] == [Unlinked("dev-1", "keepalive timed out (3 failures)"),
                                   Reconnected("dev-1")]


async def test_logged_out_from_the_phone_ends_the_session_for_good(transport, far, recorder):
    client = await link(transport, far, recorder)
    await far.log_out(client)
    event = await recorder.wait_for(lambda e: isinstance(e, Unlinked))
    assert event == Unlinked("dev-1", "logged out from the phone (LOGGED_OUT)", logged_out=True)
    await eventually(lambda: client.stopped)
    assert transport.session("dev-1") is None and len(far.clients) == 1
    assert not await transport.resume("dev-1", "447700900123")  # the store asks for a QR


async def test_a_temporary_ban_is_reported_banned(transport, far, recorder):
    client = await link(transport, far, recorder)
    await far.temporary_ban(client, TemporaryBanEv.SEND_TO_TOO_MANY_PEOPLE, 86400)
    event = await recorder.wait_for(lambda e: isinstance(e, Banned))
    assert event == Banned("dev-1", "temporarily banned by WhatsApp: SEND_TO_TOO_MANY_PEOPLE "
                                    "(expire 86400)")
    await eventually(lambda: client.stopped)


@pytest.mark.parametrize(("reason", "expected"), [
    (ConnectFailureReason.LOGGED_OUT, Unlinked("dev-1", "logged out by WhatsApp (LOGGED_OUT)",
                                               logged_out=True)),
    (ConnectFailureReason.MAIN_DEVICE_GONE, Unlinked(
        "dev-1", "logged out by WhatsApp (MAIN_DEVICE_GONE)", logged_out=True)),
    (ConnectFailureReason.TEMP_BANNED, Banned("dev-1", "temporarily banned by WhatsApp: "
                                                       "SEND_TO_TOO_MANY_PEOPLE (expire 3600)")),
    (ConnectFailureReason.CLIENT_OUTDATED, SessionFailed(
        "dev-1", "client outdated: WhatsApp refuses this whatsmeow version (upgrade neonize)")),
    (ConnectFailureReason.SERVICE_UNAVAILABLE, Unlinked("dev-1", "connection to WhatsApp lost")),
    (ConnectFailureReason.GENERIC, SessionFailed(
        "dev-1", "WhatsApp refused the connection (GENERIC: gone)")),
    (ConnectFailureReason.BAD_USER_AGENT, SessionFailed(
        "dev-1", "WhatsApp refused the connection (BAD_USER_AGENT: gone)")),
])
async def test_connect_failures_by_reason(transport, far, recorder, reason, expected):
    client = await link(transport, far, recorder)
    await far.connect_failure(client, reason, "gone")
    assert await recorder.wait_for(lambda e: type(e) is type(expected)) == expected
    stays = isinstance(expected, Unlinked) and not expected.logged_out
    assert (transport.session("dev-1") is not None) is stays


@pytest.mark.parametrize(("act", "reason"), [
    ("stream_replaced", "stream replaced: the session was opened by another client"),
    ("client_outdated", "client outdated: WhatsApp refuses this whatsmeow version "
                        "(upgrade neonize)"),
])
async def test_a_broken_session_is_reported_failed(transport, far, recorder, act, reason):
    client = await link(transport, far, recorder)
    await getattr(far, act)(client)
    assert await recorder.wait_for(lambda e: isinstance(e, SessionFailed)) == \
        SessionFailed("dev-1", reason)
    await eventually(lambda: client.stopped)


async def test_a_failed_pairing_ends_the_attempt(transport, far, recorder):
    await transport.start_pairing("dev-1")
    client = far.client_for("dev-1")
    await far.pairing_fails(client, "companion refused")
    assert await recorder.wait_for(lambda e: isinstance(e, Unlinked)) == \
        Unlinked("dev-1", "pairing failed: companion refused", logged_out=True)
    assert not any(isinstance(e, Linked) for e in recorder.events)
    await eventually(lambda: client.stopped)


async def test_events_of_a_replaced_client_are_ignored(transport, far, recorder):
    old = await link(transport, far, recorder)
    await transport.release("dev-1")
    assert await transport.resume("dev-1", PHONE)
    await far.drop(old)  # the stopped client's late event: the Go core sends nothing more
    old.stopped = False
    await far.drop(old)  # and even if it did, it is not the session's client any more
    await far.receipt(old, ["x"], ReceiptEv.DELIVERED)
    assert transport.session("dev-1").state is State.ONLINE
    assert not any(isinstance(e, Unlinked) for e in recorder.events)
