"""Aggregates, the Repository (with and without its catch-up cache) and the EventCodec,
over real stores on both backends and real generated protobuf messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel.aggregate import Aggregate, Repository
from kernel.codec import EventCodec, UnknownEventError
from kernel.eventstore import ConcurrencyError, EventStore, StoredEvent
from switchboard.billing.v1 import events_pb2 as billing_pb
from switchboard.device.v1 import events_pb2 as device_pb
from switchboard.messaging.v1 import events_pb2 as messaging_pb

# ---- a small test domain: a credit ledger, its events carried by billing's messages ----


@dataclass(frozen=True)
class CreditsGranted:
    user_id: int
    amount: int
    reason: str
    granted_by: int


@dataclass(frozen=True)
class CreditsReserved:
    user_id: int
    message_ids: tuple[str, ...]
    amount: int


@dataclass(frozen=True)
class QrIssued:
    device_id: str
    pairing_ref: str
    expires_at: datetime | None


@dataclass(frozen=True)
class MessageQueued:
    message_id: str
    user_id: int
    number: str
    body: str
    channel: str
    instance_id: str
    queued_at: datetime | None


class NotEnoughCredits(Exception):
    pass


class Ledger(Aggregate):
    stream_prefix = "ledger"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.available = 0
        self.reserved: list[str] = []

    def grant(self, amount: int, reason: str = "top-up") -> None:
        self._record(CreditsGranted(int(self.id), amount, reason, 0))

    def reserve(self, *message_ids: str) -> None:
        if len(message_ids) > self.available:
            raise NotEnoughCredits(f"Required: {len(message_ids)}, Available: {self.available}")
        self._record(CreditsReserved(int(self.id), tuple(message_ids), len(message_ids)))

    def when_CreditsGranted(self, event: CreditsGranted) -> None:
        self.available += event.amount

    def when_CreditsReserved(self, event: CreditsReserved) -> None:
        self.available -= event.amount
        self.reserved.extend(event.message_ids)


CODEC = EventCodec({
    CreditsGranted: billing_pb.CreditsGranted,
    CreditsReserved: billing_pb.CreditsReserved,
    QrIssued: device_pb.QrIssued,
    MessageQueued: messaging_pb.MessageQueued,
})


class CountingStore(EventStore):
    """The real store, counting the events each `read_stream` returns."""

    reads: list[int]

    async def read_stream(self, stream_id: str, after_version: int = 0,
                          conn: AsyncConnection | None = None) -> list[StoredEvent]:
        found = await super().read_stream(stream_id, after_version, conn)
        self.reads = [*getattr(self, "reads", []), len(found)]
        return found


async def save_then_roll_back(repo: Repository[Ledger], engine: AsyncEngine, lid: str) -> None:
    """Reserve inside a transaction, load again inside it (caching what only that
    transaction saw), then roll it back."""
    async with engine.connect() as conn:
        tx = await conn.begin()
        ledger = await repo.get(lid, conn)
        ledger.reserve("rolled-back")
        await repo.save(ledger, conn=conn)
        await repo.get(lid, conn)
        await tx.rollback()


def ledger_id(unique: str) -> str:
    return str(int(unique[:8], 16))


# ---- codec ----


def test_codec_round_trips_scalars_repeated_and_timestamps() -> None:
    when = datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=UTC)
    originals: list[Any] = [
        CreditsGranted(2**40, 500, "promo ünïcode ✓", 7),
        CreditsGranted(0, 0, "", 0),
        CreditsReserved(9, ("m-1", "m-2", "m-3"), 3),
        CreditsReserved(9, (), 0),
        QrIssued("dev-1", "ref", when),
        QrIssued("dev-1", "ref", None),
        MessageQueued("m-1", 5, "15551234567", "hi", "pool", "", when),
    ]
    for event in originals:
        new = CODEC.encode(event)
        assert new.event_type == type(event).__name__
        assert CODEC.decode_payload(new.event_type, new.payload) == event


def test_codec_writes_the_protobuf_wire_format() -> None:
    local = datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    new = CODEC.encode(QrIssued("dev-9", "pair-1", local))
    msg = device_pb.QrIssued.FromString(new.payload)
    assert (msg.device_id, msg.pairing_ref) == ("dev-9", "pair-1")
    assert msg.expires_at.ToDatetime(tzinfo=UTC) == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    decoded = CODEC.decode_payload("QrIssued", new.payload)
    assert decoded.expires_at == local and decoded.expires_at.tzinfo == UTC

    reserved = billing_pb.CreditsReserved.FromString(
        CODEC.encode(CreditsReserved(3, ("a", "b"), 2)).payload)
    assert list(reserved.message_ids) == ["a", "b"] and reserved.amount == 2


def test_codec_refuses_unknown_events() -> None:
    with pytest.raises(UnknownEventError):
        CODEC.encode(NotEnoughCredits())
    with pytest.raises(UnknownEventError):
        CODEC.decode_payload("NeverHeardOf", b"")


# ---- aggregate and repository ----


def test_aggregate_rebuilds_from_events_and_tracks_pending() -> None:
    ledger = Ledger("42")
    ledger.grant(5)
    ledger.reserve("m1", "m2")
    assert (ledger.available, ledger.version, len(ledger.pending)) == (3, 2, 2)
    assert ledger.stream_id == "ledger-42"
    with pytest.raises(NotEnoughCredits):
        ledger.reserve("a", "b", "c", "d")
    assert ledger.version == 2  # a broken rule records nothing
    write = ledger.pending_write(CODEC)
    assert (write.stream_id, write.expected_version) == ("ledger-42", 0)
    assert [e.event_type for e in write.events] == ["CreditsGranted", "CreditsReserved"]

    again = Ledger.rebuild("42", ledger.pending)
    assert (again.available, again.reserved, again.version) == (3, ["m1", "m2"], 2)
    assert again.pending == []


@pytest.mark.parametrize("cache_size", [0, 10])
async def test_repository_saves_and_loads(store: EventStore, unique: str,
                                          cache_size: int) -> None:
    repo = Repository(store, CODEC, Ledger, cache_size=cache_size)
    ledger = await repo.get(ledger_id(unique))
    assert ledger.version == 0
    ledger.grant(10)
    ledger.reserve("m1", "m2", "m3")
    await repo.save(ledger)
    assert ledger.pending == []

    loaded = await repo.get(ledger_id(unique))
    assert (loaded.available, loaded.reserved, loaded.version) == (7, ["m1", "m2", "m3"], 2)
    loaded.reserve("m4")
    await repo.save(loaded)
    fresh = await Repository(store, CODEC, Ledger).get(ledger_id(unique))
    assert (fresh.available, fresh.version) == (6, 3)
    stored = await store.read_stream(f"ledger-{ledger_id(unique)}")
    rebuilt = Ledger.rebuild(ledger_id(unique), [CODEC.decode(e) for e in stored])
    assert (rebuilt.available, rebuilt.reserved) == (fresh.available, fresh.reserved)


async def test_cache_catches_up_with_another_repositorys_writes(store: EventStore,
                                                                 unique: str) -> None:
    counting = CountingStore(store.engine)
    cached = Repository(counting, CODEC, Ledger, cache_size=10)
    other = Repository(store, CODEC, Ledger, cache_size=10)
    lid = ledger_id(unique)

    first = await cached.get(lid)
    first.grant(10)
    for m in "abcdef":
        first.reserve(m)
    await cached.save(first)

    for n in range(3):
        mine = await other.get(lid)
        mine.reserve(f"m{n}")
        await other.save(mine)

    counting.reads = []
    seen = await cached.get(lid)
    assert (seen.version, seen.available) == (10, 1)
    assert seen.reserved == ["a", "b", "c", "d", "e", "f", "m0", "m1", "m2"]
    # From the cache: the three new events (and at most the copy's own last one, to
    # check it is still the stream's), not a replay of all ten.
    assert 3 <= counting.reads[0] <= 4

    # A caller mutating what `get` returned does not corrupt the cached copy.
    seen.available = -999
    seen.reserved.clear()
    again = await cached.get(lid)
    assert (again.available, len(again.reserved)) == (1, 9)
    assert counting.reads[1] <= 1


async def test_a_stale_copy_cannot_be_saved(store: EventStore, unique: str) -> None:
    lid = ledger_id(unique)
    one = Repository(store, CODEC, Ledger, cache_size=10)
    two = Repository(store, CODEC, Ledger, cache_size=10)
    seed = await one.get(lid)
    seed.grant(1)
    await one.save(seed)

    stale = await one.get(lid)
    winner = await two.get(lid)
    winner.reserve("w")
    await two.save(winner)

    stale.reserve("s")  # passes the rule on stale state: 1 credit "available"
    with pytest.raises(ConcurrencyError):
        await one.save(stale)
    assert stale.pending  # nothing was taken as saved

    reloaded = await one.get(lid)  # the cache does not keep the failed write
    assert (reloaded.version, reloaded.available, reloaded.reserved) == (2, 0, ["w"])
    with pytest.raises(NotEnoughCredits):
        reloaded.reserve("s")
    stored = await store.read_stream(f"ledger-{lid}")
    assert [e.stream_version for e in stored] == [1, 2]


async def test_save_of_several_aggregates_is_atomic(store: EventStore, unique: str) -> None:
    repo = Repository(store, CODEC, Ledger)
    a, b = ledger_id(unique), str(int(ledger_id(unique)) + 1)
    first = await repo.get(a)
    first.grant(3)
    await repo.save(first)

    stale_a = await repo.get(a)
    moved = await repo.get(a)
    moved.grant(1)
    await repo.save(moved)

    stale_a.reserve("x")
    fresh_b = await repo.get(b)
    fresh_b.grant(2)
    with pytest.raises(ConcurrencyError):
        await repo.save(fresh_b, stale_a)
    assert (await repo.get(b)).version == 0


async def test_cache_forgets_what_a_rolled_back_transaction_read(
        store: EventStore, engine: AsyncEngine, unique: str) -> None:
    """A consumer loads and saves inside its own transaction (as `tracked` handlers do),
    loads the same aggregate again in that transaction, then the transaction rolls back.
    The cache must not keep the rolled-back events: the stream stays the truth."""
    lid = ledger_id(unique)
    repo = Repository(store, CODEC, Ledger, cache_size=10)
    seed = await repo.get(lid)
    seed.grant(10)
    await repo.save(seed)

    async with engine.connect() as conn:
        tx = await conn.begin()
        ledger = await repo.get(lid, conn)
        ledger.reserve("m1", "m2")
        await repo.save(ledger, conn=conn)
        again = await repo.get(lid, conn)  # sees its own uncommitted write
        assert (again.version, again.available) == (2, 8)
        await tx.rollback()

    after = await repo.get(lid)
    assert (after.version, after.available, after.reserved) == (1, 10, [])
    after.reserve("m3")
    await repo.save(after)
    stored = await store.read_stream(f"ledger-{lid}")
    assert [e.stream_version for e in stored] == [1, 2]


async def test_cache_notices_a_rolled_back_version_taken_by_another_writer(
        store: EventStore, engine: AsyncEngine, unique: str) -> None:
    lid = ledger_id(unique)
    repo = Repository(store, CODEC, Ledger, cache_size=10)
    seed = await repo.get(lid)
    seed.grant(10)
    await repo.save(seed)

    await save_then_roll_back(repo, engine, lid)

    other = Repository(store, CODEC, Ledger)
    theirs = await other.get(lid)
    theirs.grant(5)  # version 2 again, but a different event
    await other.save(theirs)

    mine = await repo.get(lid)
    assert (mine.version, mine.available, mine.reserved) == (2, 15, [])


async def test_cache_keeps_only_the_most_recently_used(store: EventStore, unique: str) -> None:
    counting = CountingStore(store.engine)
    repo = Repository(counting, CODEC, Ledger, cache_size=2)
    ids = [str(int(ledger_id(unique)) + n) for n in range(3)]
    for lid in ids:
        ledger = await repo.get(lid)
        for _ in range(5):
            ledger.grant(1)
        await repo.save(ledger)
    counting.reads = []
    await repo.get(ids[2])  # cached: nothing new to read
    await repo.get(ids[1])  # cached
    await repo.get(ids[0])  # evicted: a full replay
    assert counting.reads[0] <= 1 and counting.reads[1] <= 1
    assert counting.reads[2] == 5


async def test_a_trusted_copy_is_not_read_again_until_it_fails_to_save(
        store: EventStore, unique: str) -> None:
    counting = CountingStore(store.engine)
    repo = Repository(counting, CODEC, Ledger, cache_size=10)
    other = Repository(store, CODEC, Ledger)
    lid = ledger_id(unique)
    seed = await repo.get(lid)
    seed.grant(2)
    await repo.save(seed)

    counting.reads = []
    trusted = await repo.get(lid, trust_cache=True)
    assert counting.reads == [] and (trusted.version, trusted.available) == (1, 2)
    theirs = await other.get(lid)
    theirs.reserve("theirs")
    await other.save(theirs)

    stale = await repo.get(lid, trust_cache=True)  # not read: still the cached copy
    assert counting.reads == [] and stale.version == 1
    stale.reserve("mine")
    with pytest.raises(ConcurrencyError):
        await repo.save(stale)
    fresh = await repo.get(lid, trust_cache=True)  # the failed copy was dropped: read
    assert counting.reads != []
    assert (fresh.version, fresh.available, fresh.reserved) == (2, 1, ["theirs"])


async def test_a_copy_read_inside_a_transaction_is_never_trusted(
        store: EventStore, engine: AsyncEngine, unique: str) -> None:
    lid = ledger_id(unique)
    repo = Repository(store, CODEC, Ledger, cache_size=10)
    seed = await repo.get(lid)
    seed.grant(10)
    await repo.save(seed)
    await save_then_roll_back(repo, engine, lid)
    after = await repo.get(lid, trust_cache=True)
    assert (after.version, after.available, after.reserved) == (1, 10, [])
