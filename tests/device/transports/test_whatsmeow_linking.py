"""The whatsmeow transport against the neonize stand-in: linking (QR, pairing code),
where each device's session lives, resume, release and logout."""

from __future__ import annotations

import inspect
import re
from datetime import UTC, datetime, timedelta

import pytest

pytest.importorskip("neonize", reason="the whatsmeow extra (neonize) is not installed")

from neonize.aioze.client import NewAClient  # noqa: E402

from services.device.adapters.whatsmeow.session import NeonizeClient, State  # noqa: E402
from services.device.app.transport import Linked, Trouble, Unlinked  # noqa: E402
from tests.device.transports.neonize_standin import FakeNewAClient, FakeWhatsApp  # noqa: E402
from tests.device.transports.whatsmeow_support import (  # noqa: E402
    PHONE,
    eventually,
    link,
    online,
    whatsmeow,
)

USED = ("__init__", "connect", "disconnect", "stop", "logout", "send_message", "PairPhone",
        "get_me", "download_any", "get_pn_from_lid", "get_lid_from_pn", "is_on_whatsapp")


@pytest.fixture
def far() -> FakeWhatsApp:
    return FakeWhatsApp()


@pytest.fixture
async def transport(tmp_path, ledger, far, recorder):
    transport = whatsmeow(tmp_path, ledger, far, recorder)
    yield transport
    await transport.close()


def _shape(function: object) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize("method", USED)
def test_the_standin_has_neonize_s_signatures(method):
    assert _shape(getattr(FakeNewAClient, method)) == _shape(getattr(NewAClient, method))


def test_what_the_transport_uses_exists_on_neonize_s_client():
    used = {name for name in dir(NeonizeClient) if not name.startswith("_")}
    used |= set(NeonizeClient.__annotations__)
    assert used <= set(dir(NewAClient)) | {"qr", "event"}  # set in NewAClient.__init__
    assert isinstance(inspect.getattr_static(NewAClient, "is_connected"), property)
    assert isinstance(inspect.getattr_static(FakeNewAClient, "is_connected"), property)


async def test_a_scanned_qr_links_the_device_with_its_phone(transport, far, recorder, tmp_path):
    pairing = await transport.start_pairing("dev-1")
    client = far.client_for("dev-1")
    assert (client.name, client.new_device) == (str(tmp_path / "whatsmeow" / "dev-1.db"), False)
    assert pairing.pairing_ref.startswith("2@") and pairing.pairing_ref == client.qr_codes[0]
    left = pairing.expires_at - datetime.now(UTC)
    assert timedelta(seconds=55) < left <= timedelta(seconds=60)
    await far.scan(pairing.pairing_ref, PHONE)
    assert await recorder.wait_for(lambda e: isinstance(e, Linked)) == \
        Linked("dev-1", "", "447700900123")
    await online(transport, "dev-1")
    assert await transport.ledger.jid_of("dev-1") == "447700900123:11@s.whatsapp.net"


async def test_the_qr_on_screen_is_shown_again_until_whatsmeow_rotates_it(transport, far):
    first = await transport.start_pairing("dev-1")
    assert (await transport.start_pairing("dev-1")).pairing_ref == first.pairing_ref
    rotated = await far.rotate_qr(far.client_for("dev-1"))
    await eventually(lambda: transport.session("dev-1").qr.code == rotated)
    second = await transport.start_pairing("dev-1")
    assert second.pairing_ref == rotated != first.pairing_ref
    left = second.expires_at - datetime.now(UTC)
    assert timedelta(seconds=15) < left <= timedelta(seconds=20)
    assert len(far.clients) == 1  # one client per device, kept while it pairs


async def test_a_pairing_code_links_the_device(transport, far, recorder):
    pairing = await transport.request_pairing_code("dev-2", "+1 555 0100")
    code = pairing.pairing_ref
    assert re.fullmatch(r"[1-9A-HJ-NP-TV-Z]{4}-[1-9A-HJ-NP-TV-Z]{4}", code)  # whatsmeow's
    assert far.pair_codes[code][1] == "15550100"  # digits, as PairPhone wants them
    await far.enter_code(code)
    assert await recorder.wait_for(lambda e: isinstance(e, Linked)) == \
        Linked("dev-2", "", "15550100")


async def test_pairing_a_device_whose_store_is_still_linked_reports_it_linked(
        transport, far, recorder):
    await link(transport, far, recorder)
    await transport.release("dev-1")
    recorder.events.clear()
    pairing = await transport.start_pairing("dev-1")
    assert pairing.pairing_ref == "whatsmeow://linked/dev-1"
    assert await recorder.wait_for(lambda e: isinstance(e, Linked)) == \
        Linked("dev-1", "", "447700900123")


async def test_no_qr_in_time_is_a_named_unavailable_error(transport, far):
    far.silent = True
    with pytest.raises(Exception, match="no QR code from WhatsApp in time") as caught:
        await transport.start_pairing("dev-1")
    assert caught.value.code == "SERVICE_UNAVAILABLE"
    assert transport.session("dev-1") is None and far.clients[0].stopped


async def test_an_unreachable_whatsapp_is_a_named_unavailable_error(transport, far):
    far.unreachable = True
    with pytest.raises(Exception, match="WhatsApp unreachable: failed to dial") as caught:
        await transport.start_pairing("dev-1")
    assert caught.value.code == "SERVICE_UNAVAILABLE"
    assert transport.session("dev-1") is None and transport.threads.live == 0


async def test_a_restart_resumes_the_session_from_its_store(tmp_path, ledger, far, recorder):
    first = whatsmeow(tmp_path, ledger, far, recorder)
    await link(first, far, recorder)
    await first.close()
    again = whatsmeow(tmp_path, ledger, far, recorder)
    try:
        assert await again.resume("dev-1", "447700900123")
        assert again.session("dev-1").state is State.ONLINE
        assert far.clients[-1].name == far.clients[0].name and far.clients[-1].jid is None
        assert await again.resume("dev-1", "447700900123")  # already up: no new client
        assert len(far.clients) == 2
    finally:
        await again.close()


async def test_resume_is_refused_for_now_when_whatsapp_cannot_be_reached(transport, far,
                                                                           recorder):
    await link(transport, far, recorder)
    await transport.release("dev-1")
    far.unreachable = True
    recorder.events.clear()
    assert not await transport.resume("dev-1", "447700900123")  # the app tries again later
    assert transport.session("dev-1") is None and transport.threads.live == 0
    # not failed, not logged out (the link stays): only why, as the device's last error
    [trouble] = recorder.events
    assert isinstance(trouble, Trouble) and trouble.device_id == "dev-1"
    assert trouble.reason.startswith("WhatsApp: WhatsApp unreachable: failed to dial")
    far.unreachable = False
    assert await transport.resume("dev-1", "447700900123")


async def test_logout_here_ends_the_link_and_nothing_resumes(transport, far, recorder, tmp_path):
    client = await link(transport, far, recorder)
    (tmp_path / "whatsmeow" / "dev-1.db").write_bytes(b"")  # the session file whatsmeow keeps
    await transport.logout("dev-1")
    assert client.logged_out and client.stopped
    assert not (tmp_path / "whatsmeow" / "dev-1.db").exists()
    assert await transport.ledger.jid_of("dev-1") is None
    assert not await transport.resume("dev-1", "447700900123")  # the store asks for a QR


async def whatsmeow_database(admin_url: str) -> str:
    """A fresh PostgreSQL database, named as whatsmeow wants it (postgres://…)."""
    from tests.conftest import _fresh_postgres_database

    return (await _fresh_postgres_database(admin_url)).replace("postgresql+asyncpg://",
                                                               "postgres://")


async def test_a_shared_postgres_store_picks_each_device_by_its_jid(
        tmp_path, ledger, far, recorder, postgres_admin_url):
    url = await whatsmeow_database(postgres_admin_url)
    first = whatsmeow(tmp_path, ledger, far, recorder, database_url=url)
    await link(first, far, recorder, "dev-a", "+1 555 0001")
    await link(first, far, recorder, "dev-b", "+1 555 0002")
    assert [(c.name, c.new_device, c.jid) for c in far.clients] == [(url, True, None)] * 2
    await first.close()
    again = whatsmeow(tmp_path, ledger, far, recorder, database_url=url)
    try:
        assert await again.resume("dev-b", "15550002")
        assert await again.resume("dev-a", "15550001")
        assert [(c.jid.User, c.new_device) for c in far.clients[2:]] == \
            [("15550002", False), ("15550001", False)]
        assert (await far.clients[-1].get_me()).JID.User == "15550001"
    finally:
        await again.close()


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
async def test_a_lost_session_store_asks_for_a_new_link_without_connecting(
        tmp_path, ledger, far, recorder, request, store):
    url = "" if store == "sqlite" else \
        await whatsmeow_database(request.getfixturevalue("postgres_admin_url"))
    first = whatsmeow(tmp_path, ledger, far, recorder, database_url=url)
    client = await link(first, far, recorder)
    await first.close()
    await far.lose_store(client.name)
    again = whatsmeow(tmp_path, ledger, far, recorder, database_url=url)
    try:
        recorder.events.clear()
        assert not await again.resume("dev-1", "447700900123")
        assert await recorder.wait_for(lambda e: isinstance(e, Unlinked)) == Unlinked(
            "dev-1", "the whatsmeow session store has lost this device's session: it needs "
                     "a new link", logged_out=True)
        assert len(far.clients) == 1  # whatsmeow was never handed the missing session
        assert await again.ledger.jid_of("dev-1") is None
    finally:
        await again.close()
