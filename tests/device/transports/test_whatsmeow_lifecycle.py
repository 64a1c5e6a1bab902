"""The whatsmeow transport's lifecycles against the neonize stand-in: one client per
device id (the finalizer of a collected one stops nothing), pairings that run out with
whatsmeow's QR window and give their thread back, pairing codes told as long as they
live, threads of its own, and no resend after an ambiguous send."""

from __future__ import annotations

import asyncio
import gc
from datetime import UTC, datetime, timedelta

import pytest

pytest.importorskip("neonize", reason="the whatsmeow extra (neonize) is not installed here")

from neonize.exc import SendMessageError  # noqa: E402

from services.device.adapters.send_ledger import OutcomeUnknownError  # noqa: E402
from services.device.adapters.whatsmeow import WhatsmeowTransport  # noqa: E402
from services.device.adapters.whatsmeow.session import QrTimes, State, Timing  # noqa: E402
from services.device.adapters.whatsmeow.threads import NeonizeThreads  # noqa: E402
from services.device.app.transport import Unlinked  # noqa: E402
from tests.device.transports.neonize_standin import FakeWhatsApp  # noqa: E402
from tests.device.transports.whatsmeow_support import PHONE, eventually, link  # noqa: E402

WINDOW = QrTimes(first=0.3, next=0.1, count=2)


@pytest.fixture
def far() -> FakeWhatsApp:
    return FakeWhatsApp(qr_first=WINDOW.first, qr_next=WINDOW.next, qr_count=WINDOW.count)


@pytest.fixture
async def transport(tmp_path, ledger, far, recorder):
    made = WhatsmeowTransport(tmp_path / "whatsmeow", ledger, make_client=far.NewAClient,
                              timing=Timing(connect_wait=1.0, link_delay=0.01, qr=WINDOW),
                              threads=NeonizeThreads(max_sessions=3, call_workers=2))
    made.attach(recorder)
    yield made
    await made.close()


async def test_reopening_a_device_keeps_the_new_client_alive(transport, far, recorder):
    await link(transport, far, recorder)
    await transport.release("dev-1")
    assert await transport.resume("dev-1", PHONE)  # a second client of the same id
    old = far.clients.pop(0)
    assert old.stopped and not old._stop_finalizer.alive  # stopped, then detached
    del old
    gc.collect()  # a finalizer left attached would stop the new client by its id
    sent = await transport.send("dev-1", "+1 555 0100", "still here", "sb-m1")
    assert sent.transport_message_id == "sb-m1" and far.sent[-1].text == "still here"
    assert (await far.clients[-1].get_me()).JID.User == "447700900123"


async def test_an_unscanned_pairing_ends_with_the_qr_window_and_gives_its_thread_back(
        transport, far, recorder):
    await transport.start_pairing("dev-1")
    session = transport.session("dev-1")
    assert transport.threads.live == 1
    await eventually(lambda: session.state is State.ENDED, seconds=3.0)
    assert session.ended_reason == "the QR codes ran out before a phone linked the device"
    await eventually(lambda: transport.threads.live == 0)
    assert far.clients[0].stopped and len(far.clients[0].qr_codes) == 1 + WINDOW.count
    assert recorder.events == []  # nothing happened to the device itself
    again = await transport.start_pairing("dev-1")  # a new pairing starts afresh
    assert again.pairing_ref == far.clients[1].qr_codes[0]


async def test_a_pairing_code_is_told_to_live_only_as_long_as_the_qr_window(transport, far):
    before = datetime.now(UTC)
    pairing = await transport.request_pairing_code("dev-1", "+1 555 0100")
    assert pairing.expires_at <= before + timedelta(seconds=WINDOW.window + 0.2)
    await asyncio.sleep(WINDOW.window + 0.2)
    assert pairing.pairing_ref not in far.pair_codes  # it died with the window, as told


async def test_each_session_holds_one_thread_of_its_own_and_no_more_are_made(
        transport, far, recorder):
    await link(transport, far, recorder, "dev-1", "+1 555 0001")
    await link(transport, far, recorder, "dev-2", "+1 555 0002")
    await transport.start_pairing("dev-3")
    assert transport.threads.live == 3
    assert len(far.go.threads) == 3 and all(name.startswith("neonize-session")
                                            for name in far.go.threads)
    with pytest.raises(Exception, match="all 3 whatsmeow session threads are in use") as caught:
        await transport.start_pairing("dev-4")
    assert caught.value.code == "SERVICE_UNAVAILABLE"
    sends = [transport.send("dev-1", "+1 555 0100", f"m{n}", f"sb-{n}") for n in range(10)]
    assert len(await asyncio.wait_for(asyncio.gather(*sends), 5.0)) == 10  # not starved
    await transport.release("dev-2")
    await eventually(lambda: transport.threads.live == 1 + pairing(transport, "dev-3"),
                     seconds=5.0)  # dev-2's thread is back (dev-3's too once its QRs ran out)
    await transport.start_pairing("dev-4")


def pairing(transport: WhatsmeowTransport, device_id: str) -> bool:
    """Whether the device's pairing still holds its session (WINDOW is short: under load
    it may run out while the test goes on)."""
    session = transport.session(device_id)
    return session is not None and session.state is not State.ENDED


async def test_a_send_cut_off_by_a_disconnect_is_never_sent_again(transport, far, recorder):
    await link(transport, far, recorder)
    far.send_failures.append(SendMessageError(
        "failed to get response: websocket disconnected before info query returned response"))
    with pytest.raises(OutcomeUnknownError, match="not sent again"):
        await transport.send("dev-1", "+1 555 0100", "hello", "sb-m1")
    with pytest.raises(OutcomeUnknownError):
        await transport.send("dev-1", "+1 555 0100", "hello", "sb-m1")
    assert far.send_calls == 1 and far.sent == []


async def test_a_dead_connection_call_of_a_live_session_is_a_drop_not_a_failure(
        transport, far, recorder):
    await link(transport, far, recorder)
    far.go.fail(b"dev-1", "failed to dial whatsapp web websocket: i/o timeout")
    assert await recorder.wait_for(lambda e: isinstance(e, Unlinked)) == Unlinked(
        "dev-1", "WhatsApp unreachable: failed to dial whatsapp web websocket: i/o timeout")


@pytest.mark.parametrize(("missing", "says"), [
    (ModuleNotFoundError("No module named 'neonize'", name="neonize"),
     "needs the 'neonize' package: pip install 'switchboard-gateway[whatsmeow]'"),
    (ImportError("failed to find libmagic.  Check your installation"),
     "could not load neonize: failed to find libmagic.  Check your installation (a system "
     "library it needs is missing? neonize needs libmagic: apt-get install libmagic1)"),
])
def test_the_import_error_names_what_is_really_missing(missing, says):
    from services.device.adapters.transports import whatsmeow_missing

    assert whatsmeow_missing(missing) == f"the whatsmeow transport {says}"


async def test_an_event_neonize_cannot_map_is_skipped_and_the_stream_goes_on(
        transport, far, recorder):
    client = await link(transport, far, recorder)
    await client.deliver_unknown(999)  # a code neonize does not know
    await client.deliver_unknown(3, b"\xff\xff\xff")  # a known code, an unreadable body
    await far.drop(client)
    assert await recorder.wait_for(lambda e: isinstance(e, Unlinked)) == Unlinked(
        "dev-1", "connection to WhatsApp lost")


def test_a_send_is_given_as_long_as_whatsmeow_gives_it(transport):
    from services.device.adapters.simulator import SimulatorTransport
    from services.device.app.dispatch import RetryPolicy, attempt_timeout
    from services.device.bootstrap import ack_wait
    from services.device.settings import DeviceSettings

    policy = RetryPolicy(timeout=20.0)
    assert attempt_timeout(policy, transport) == 80.0  # whatsmeow's own 75 s, and a margin
    assert attempt_timeout(policy, SimulatorTransport()) == 20.0
    settings = DeviceSettings(dispatch_ack_wait_seconds=2)  # the operator's choice stands…
    assert ack_wait(settings, SimulatorTransport()) == 2.0
    assert ack_wait(settings, transport) == 90.0  # …unless a send may take longer
