"""Billing's write-side indexes (reservations, due dates) are derived from its events: a
rebuild from the events gives the rows written inline, and a store written before the
index existed is indexed when billing starts."""

from sqlalchemy import select

from kernel.config import Settings
from kernel.db import engine_for, reading
from kernel.eventstore import EventStore, StreamWrite
from services.billing.adapters.codec import billing_codec
from services.billing.adapters.index import due_table, holds_table
from services.billing.adapters.index_rebuild import rebuild_indexes
from services.billing.domain.events import (
    CreditsGranted,
    CreditsReserved,
    CreditsSpent,
)
from services.billing.domain.holds import COMMITTED, OPEN, Hold
from switchboard.billing.v1 import billing_pb2
from tests.billing.conftest import (
    balance,
    get_quota,
    grant,
    hold_of,
    renew,
    reserve,
    reserve_quota,
)


async def indexes(engine):
    async with reading(engine) as conn:
        holds = (await conn.execute(select(holds_table).order_by(
            holds_table.c.kind, holds_table.c.message_id))).all()
        due = (await conn.execute(select(due_table).order_by(due_table.c.instance_id))).all()
    return [tuple(r) for r in holds], [tuple(r) for r in due]


async def test_rebuilt_indexes_equal_the_ones_written_inline(start_billing, user_id, clock):
    running = await start_billing(billing_free_plan_auto_renew=False)
    stub, engine = running.stub, running.host.infra.engine
    await grant(stub, user_id, 10)
    await reserve(stub, user_id, "a", "b", "c")
    await stub.ReleaseCredits(billing_pb2.ReleaseCreditsRequest(user_id=user_id,
                                                                message_ids=["b"]))
    await reserve_quota(stub, "i1", "q1", "q2")
    await stub.ReleaseQuota(billing_pb2.ReleaseQuotaRequest(instance_id="i1", message_ids=["q2"]))
    await renew(stub, "i2")
    await get_quota(stub, "i3")
    clock.advance(days=40)
    await get_quota(stub, "i3")  # expired: no longer due
    live = await indexes(engine)
    assert len(live[0]) == 5 and [row[0] for row in live[1]] == ["i1", "i2"]
    async with engine.begin() as conn:
        replayed = await rebuild_indexes(conn, billing_codec())
    assert replayed > 5
    assert await indexes(engine) == live


async def test_a_store_from_before_the_index_is_indexed_at_start(database_url, start_billing,
                                                                  user_id):
    await write_store_without_indexes(database_url, user_id)
    running = await start_billing()
    assert await hold_of(running.host, "old-open") == Hold(f"ledger-{user_id}", OPEN)
    assert await hold_of(running.host, "old-sent") == Hold(f"ledger-{user_id}", COMMITTED)
    again = await reserve(running.stub, user_id, "old-open", "old-sent", "new")
    assert (again.reserved, again.already_reserved) == (1, 2)
    assert await balance(running.stub, user_id) == (7, 2)


async def write_store_without_indexes(database_url, user_id):
    """A ledger's events in a store whose index tables were never made."""
    engine = await engine_for("billing", Settings(database_url=database_url))
    store, codec = EventStore(engine), billing_codec()
    await store.create_tables()
    ids = ("old-open", "old-sent")
    await store.append_many([
        StreamWrite(f"ledger-{user_id}", 0, [codec.encode(e) for e in (
            CreditsGranted(user_id, 10, "top-up", 1), CreditsReserved(user_id, ids, 2),
            CreditsSpent(user_id, ("old-sent",), 1))]),
    ])
    await engine.dispose()
