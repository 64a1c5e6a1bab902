"""A real billing service on port 0 over real gRPC, and real upstream event streams."""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
from google.protobuf.message import Message

from kernel import bus
from kernel.db import create_engine, reading
from kernel.eventstore import EventStore, NewEvent
from kernel.host import ServiceHost
from kernel.relay import OutboxRelay
from kernel.rpc import channel
from services.billing.adapters.index import load_holds
from services.billing.bootstrap import build
from services.billing.domain.holds import CREDIT, Hold
from services.billing.settings import BillingSettings
from switchboard.billing.v1 import billing_pb2, billing_pb2_grpc


@dataclass
class RunningBilling:
    host: ServiceHost
    stub: billing_pb2_grpc.BillingServiceStub
    address: str = ""


StartBilling = Callable[..., Awaitable[RunningBilling]]


class FakeClock:
    """Billing's injectable clock, moved by the test."""

    def __init__(self, now: datetime = datetime(2024, 1, 1, tzinfo=UTC)) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def start_billing(database_url: str, nats_url: str,
                        clock: FakeClock) -> AsyncIterator[StartBilling]:
    started: list[tuple[ServiceHost, Any]] = []

    async def start(**overrides: Any) -> RunningBilling:
        settings = BillingSettings(database_url=database_url, nats_url=nats_url, **overrides)
        host = ServiceHost("billing", settings, functools.partial(build, clock=clock))
        port = await host.start("127.0.0.1:0")
        chan = channel(f"127.0.0.1:{port}")
        started.append((host, chan))
        return RunningBilling(host, billing_pb2_grpc.BillingServiceStub(chan),
                              f"127.0.0.1:{port}")

    yield start
    for host, chan in reversed(started):
        await chan.close()
        await host.stop()


@pytest.fixture
async def billing(start_billing: StartBilling) -> billing_pb2_grpc.BillingServiceStub:
    return (await start_billing()).stub


@pytest.fixture
def user_id(unique: str) -> int:
    """A user id no other test uses: the event streams on the NATS server are shared."""
    return int(unique, 16)


class Upstream:
    """Another service's event store and outbox relay: what it emits reaches JetStream
    exactly as that service's own relay would publish it."""

    def __init__(self, service: str, store: EventStore, js: Any) -> None:
        self.store = store
        self.relay = OutboxRelay(store, js, service)

    async def emit(self, event_type: str, message: Message) -> None:
        await self.store.append(f"test-{uuid.uuid4().hex}", 0,
                                [NewEvent(event_type, message.SerializeToString())])
        await self.relay.publish_pending()


@pytest.fixture
async def upstream(nats_url: str, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    engines = []

    async def make(service: str) -> Upstream:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / f'{service}-upstream.db'}")
        engines.append(engine)
        store = EventStore(engine)
        await store.create_tables()
        await bus.ensure_stream(js, service)
        return Upstream(service, store, js)

    yield make
    await nc.close()
    for engine in engines:
        await engine.dispose()


async def grant(stub: billing_pb2_grpc.BillingServiceStub, user_id: int,
                amount: int) -> billing_pb2.Balance:
    return await stub.GrantCredits(billing_pb2.GrantCreditsRequest(
        user_id=user_id, amount=amount, reason="test", granted_by=1))


async def reserve(stub: billing_pb2_grpc.BillingServiceStub, user_id: int,
                  *message_ids: str) -> billing_pb2.ReserveCreditsResponse:
    return await stub.ReserveCredits(billing_pb2.ReserveCreditsRequest(
        user_id=user_id, message_ids=list(message_ids)))


async def balance(stub: billing_pb2_grpc.BillingServiceStub,
                  user_id: int) -> tuple[int, int]:
    found = await stub.GetBalance(billing_pb2.GetBalanceRequest(user_id=user_id))
    return found.available, found.reserved


async def hold_of(host: ServiceHost, message_id: str, kind: str = CREDIT) -> Hold:
    """The reservation index's row for a message id (a default one if there is none)."""
    assert host.infra is not None
    async with reading(host.infra.engine) as conn:
        found = await load_holds(conn, kind, [message_id])
    return found.get(message_id, Hold("", ""))


async def reserve_quota(stub: billing_pb2_grpc.BillingServiceStub, instance_id: str,
                        *message_ids: str) -> billing_pb2.QuotaStatus:
    return await stub.ReserveQuota(billing_pb2.ReserveQuotaRequest(
        instance_id=instance_id, message_ids=list(message_ids)))


async def get_quota(stub: billing_pb2_grpc.BillingServiceStub,
                    instance_id: str) -> billing_pb2.QuotaStatus:
    return await stub.GetQuota(billing_pb2.GetQuotaRequest(instance_id=instance_id))


async def renew(stub: billing_pb2_grpc.BillingServiceStub, instance_id: str,
                **fields: Any) -> billing_pb2.QuotaStatus:
    request = {"subscription_type": 3, "period": 1, "monthly_quota": 1000, "amount": 49.99,
               "auto_renew": True, **fields}
    return await stub.RenewSubscription(billing_pb2.RenewSubscriptionRequest(
        instance_id=instance_id, **request))


def stamp(ts: Any) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


async def event_types(host: ServiceHost, stream_id: str) -> list[str]:
    assert host.infra is not None
    return [e.event_type for e in await host.infra.store.read_stream(stream_id)]
