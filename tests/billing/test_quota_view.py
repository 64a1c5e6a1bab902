"""The quota view, fed by real billing, auth, device and messaging events through a real
NATS, on SQLite and PostgreSQL: what it shows, and that `switchboard projections rebuild
quota` rebuilds exactly the live view."""

import asyncio
import re
import time

import pytest
from sqlalchemy import delete, select, update

from kernel.bus import stream_name
from kernel.db import reading
from launcher.cli import main
from services.billing.adapters.quota_view import instance_periods, user_months
from services.billing.domain.holds import QUOTA, REFUNDED
from switchboard.auth.v1 import events_pb2 as auth_events
from switchboard.billing.v1 import billing_pb2
from switchboard.device.v1 import events_pb2 as device_events
from switchboard.messaging.v1 import events_pb2 as messaging_events
from tests.billing.conftest import get_quota, grant, hold_of, renew, reserve, reserve_quota

FREE = {"billing_free_plan_type": 1, "billing_free_plan_quota": 5,
        "billing_free_plan_period": 1, "billing_free_plan_auto_renew": True}
WAIT_SECONDS = 30.0


@pytest.fixture
def nats_url(fresh_nats_url):
    """A NATS of this test's own: a rebuild replays whole streams."""
    return fresh_nats_url


async def until(check, what):
    deadline = time.monotonic() + WAIT_SECONDS
    while not await check():
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.05)


async def quiet(host):
    """Everything billing wrote is published, and the quota view has applied it all."""
    await until(lambda: _relayed(host), "relay caught up")
    js = host.infra.js
    for service in ("billing", "messaging"):
        async def drained(service=service):
            info = await js.consumer_info(stream_name(service), f"quota-{service}")
            return info.num_pending == 0 and info.num_ack_pending == 0
        await until(drained, f"quota-{service} drained")


async def _relayed(host):
    return await host.relay.lag() == 0


async def snapshot(host):
    async with reading(host.infra.engine) as conn:
        periods = (await conn.execute(select(instance_periods).order_by(
            instance_periods.c.instance_id, instance_periods.c.period_key))).all()
        months = (await conn.execute(select(user_months).order_by(
            user_months.c.user_id, user_months.c.month))).all()
    return [tuple(r) for r in periods], [tuple(r) for r in months]


def queued(message_id, user_id, channel, instance_id=""):
    return messaging_events.MessageQueued(message_id=message_id, user_id=user_id, number="27821",
                                          body="hi", channel=channel, instance_id=instance_id)


async def run_scenario(stub, upstream, clock, user_id, host):
    auth, device, messaging = (await upstream("auth"), await upstream("device"),
                               await upstream("messaging"))
    for name in ("i1", "i2"):
        await auth.emit("InstanceCreated", auth_events.InstanceCreated(instance_id=name,
                                                                       user_id=user_id))
    await grant(stub, user_id, 10)
    await reserve(stub, user_id, "c1", "c2", "c3")
    await reserve_quota(stub, "i1", "q1", "q2", "q3")
    await device.emit("MessageFailed", device_events.MessageFailed(message_id="c1", reason="x"))
    await device.emit("MessageFailed", device_events.MessageFailed(message_id="q1", reason="x"))
    await device.emit("MessageSent", device_events.MessageSent(message_id="q2"))
    for i, channel in enumerate(["pool", "pool", "instance", "instance", "instance"]):
        await messaging.emit("MessageQueued", queued(f"m{i}", user_id, channel, "i1"))
    await until(lambda: _refunded(host, "q1"), "q1 refunded")
    clock.advance(days=32)
    await reserve_quota(stub, "i1", "q4")
    await renew(stub, "i2", subscription_type=3, monthly_quota=1000, amount=49.99,
                auto_renew=False)
    clock.advance(days=40)
    await get_quota(stub, "i2")
    await reserve_quota(stub, "i1", "q5", "q6")


async def _refunded(host, message_id):
    return (await hold_of(host, message_id, QUOTA)).state == REFUNDED


async def test_the_view_shows_usage_and_a_rebuild_equals_it(start_billing, upstream, clock,
                                                            user_id, database_url, nats_url,
                                                            monkeypatch, capsys):
    running = await start_billing(**FREE)
    await run_scenario(running.stub, upstream, clock, user_id, running.host)
    await quiet(running.host)
    live = await snapshot(running.host)
    usage = await running.stub.GetUsage(billing_pb2.GetUsageRequest(instance_id="i1"))
    assert [(p.subscription_type, p.monthly_quota, p.messages_used, p.status)
            for p in usage.instance_periods] == [("Basic", 5, 2, "completed"),
                                                 ("Basic", 5, 1, "completed"),
                                                 ("Basic", 5, 2, "active")]
    assert {p.user_id for p in usage.instance_periods} == {user_id}
    assert (await get_quota(running.stub, "i1")).messages_used == 2
    i2 = await running.stub.GetUsage(billing_pb2.GetUsageRequest(instance_id="i2"))
    assert [(p.subscription_type, p.status) for p in i2.instance_periods] == [
        ("Basic", "completed"), ("Basic", "renewed"), ("Premium", "expired")]
    months = (await running.stub.GetUsage(billing_pb2.GetUsageRequest(user_id=user_id)))
    [month] = months.user_months
    assert (month.messages_queued, month.instance_messages_queued) == (5, 3)
    assert (month.credits_granted, month.credits_reserved, month.credits_refunded) == (10, 3, 1)
    assert month.renewal_payments_cents == 4999

    await spoil(running.host)
    assert await snapshot(running.host) != live
    replayed = await rebuild_from_the_command_line(monkeypatch, capsys, database_url, nats_url)
    assert replayed >= 20
    assert await snapshot(running.host) == live
    await running.host.stop()
    assert await snapshot_after_restart(start_billing) == live


async def spoil(host):
    """Damage the live view, so only a real rebuild can make it right again."""
    async with host.infra.engine.begin() as conn:
        await conn.execute(delete(user_months))
        await conn.execute(update(instance_periods).values(messages_reserved=99))


async def rebuild_from_the_command_line(monkeypatch, capsys, database_url, nats_url):
    monkeypatch.setenv("SWITCHBOARD_DATABASE_URL", database_url)
    monkeypatch.setenv("SWITCHBOARD_NATS_URL", nats_url)
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["projections", "rebuild", "quota"]) == 0
    printed = capsys.readouterr()
    found = re.search(r"rebuilt quota: (\d+) events replayed", printed.out)
    assert found, printed.out
    # progress as it goes on stderr (kernel/progress.py), its last line all of it
    last = printed.err.strip().splitlines()[-1]
    shown = re.fullmatch(r"rebuild quota: (\d+)/(\d+) events replayed \(100%\), \d+/s, ETA 0s",
                         last)
    assert shown and shown.group(1) == shown.group(2), printed.err
    assert int(shown.group(1)) >= int(found.group(1))
    return int(found.group(1))


async def snapshot_after_restart(start_billing):
    """A restarted service's consumers find nothing new: the view stays as rebuilt."""
    again = await start_billing(**FREE)
    await quiet(again.host)
    return await snapshot(again.host)
