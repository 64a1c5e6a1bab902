"""The send ledger on SQLite and PostgreSQL: at most one send per transport message id,
across retries, redeliveries and restarts, and far-side ids mapped back to ours."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from kernel.db import create_engine, ensure_schema
from services.device.adapters.send_ledger import (
    OutcomeUnknownError,
    SendLedger,
    send_once,
)
from services.device.app.transport import Sent, SessionDownError

AT = datetime(2025, 6, 3, 10, 30, tzinfo=UTC)


@pytest.fixture
async def ledger(database_url: str) -> AsyncIterator[SendLedger]:
    async def engine():  # noqa: ANN202
        engine = create_engine(database_url, schema="device")
        await ensure_schema(engine, "device")
        return engine

    ledger = SendLedger(engine)
    yield ledger
    await ledger.close()


class FarSide:
    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> tuple[str, datetime]:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return f"wamid.{self.calls}", AT


async def test_a_message_is_sent_once_and_its_resend_answered_from_the_ledger(ledger):
    far = FarSide()
    assert await send_once(ledger, "cloud", "dev-1", "sb-1", far) == Sent("sb-1", AT)
    assert await send_once(ledger, "cloud", "dev-1", "sb-1", far) == Sent("sb-1", AT)
    assert far.calls == 1
    entry = await ledger.entry("sb-1")
    assert (entry.device_id, entry.remote_id, entry.sent_at) == ("dev-1", "wamid.1", AT)


async def test_what_never_reached_the_far_side_may_be_sent_again(ledger):
    far = FarSide(SessionDownError("down"))
    with pytest.raises(SessionDownError):
        await send_once(ledger, "cloud", "dev-1", "sb-1", far)
    assert await ledger.entry("sb-1") is None
    assert await send_once(ledger, "cloud", "dev-2", "sb-1", far) == Sent("sb-1", AT)
    assert far.calls == 2


@pytest.mark.parametrize("cut_off", [OutcomeUnknownError("no answer"),
                                     asyncio.CancelledError()])
async def test_a_send_cut_off_mid_way_is_never_repeated(ledger, cut_off):
    far = FarSide(cut_off)
    with pytest.raises(type(cut_off)):
        await send_once(ledger, "whatsmeow", "dev-1", "sb-1", far)
    with pytest.raises(OutcomeUnknownError, match="not sent again"):
        await send_once(ledger, "whatsmeow", "dev-1", "sb-1", far)
    assert far.calls == 1


async def test_concurrent_claims_leave_one_winner(ledger):
    claims = await asyncio.gather(*(ledger.claim("cloud", "sb-1", f"dev-{i}") for i in range(5)))
    assert sum(c is None for c in claims) == 1


async def test_far_side_ids_map_back_to_ours(ledger):
    for n in (1, 2, 3):
        await ledger.claim("whatsmeow", f"sb-{n}", "dev-1")
        if n != 3:
            await ledger.settle(f"sb-{n}", f"3EB0{n}", AT)
    assert await ledger.transport_ids(["3EB01", "3EB02", "3EB0X"]) == \
        {"3EB01": "sb-1", "3EB02": "sb-2"}
    assert await ledger.transport_ids([]) == {}
    await ledger.release("sb-1")  # a settled entry is kept
    assert (await ledger.entry("sb-1")).remote_id == "3EB01"


async def test_a_device_s_jid_is_remembered_replaced_and_forgotten(ledger):
    assert await ledger.jid_of("dev-1") is None
    await ledger.remember_jid("dev-1", "15550001:11@s.whatsapp.net")
    await ledger.remember_jid("dev-1", "15550001:12@s.whatsapp.net")
    assert await ledger.jid_of("dev-1") == "15550001:12@s.whatsapp.net"
    await ledger.forget_jid("dev-1")
    assert await ledger.jid_of("dev-1") is None


async def test_the_ledger_outlives_its_engine(ledger):
    await send_once(ledger, "cloud", "dev-1", "sb-1", FarSide())
    await ledger.close()  # a restart: a new engine on the same database
    assert (await ledger.entry("sb-1")).remote_id == "wamid.1"
