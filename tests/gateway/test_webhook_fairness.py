"""One tenant cannot stall another's webhooks. Through the real gateway and services, with
the production delivery settings (5 s time limit, 32 workers, 2 per endpoint, 8 per
owner, breaker after 5 failures): ann has 10 dead endpoints (five that take the
connection and never answer, five that refuse it) and 5,000 queued deliveries for them
(her 100 messages' five statuses each); bob's receiver still gets each of his statuses
sooner than one hung POST's time limit: a status queued behind ann's would wait at least
that long, and behind her backlog many times over."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

import httpx

from services.messaging.settings import MessagingSettings
from tests.gateway.test_billing_credits import ADMIN, signed_in, top_up
from tests.gateway.webhook_receiver import Receiver, black_hole, receiver, refusing_url
from tests.support.services import gateway_client, running_services

MESSAGES = 100  # x 10 endpoints: 1,000 deliveries of "Queued" alone, 5,000 in all
HUNG_POST_LIMIT = MessagingSettings.model_fields["webhook_timeout_seconds"].default
LOOPBACK = {"webhook_allow_private": "127.0.0.0/8", **ADMIN}  # the receivers' addresses
# A round of ann's hung POSTs ends at their time limit, nearly all at once; the next round's
# connections open as her workers take her next deliveries. Between the two none may be
# open: that long after the last one was given up, some must be again.
REFILL = 1.0


async def _queued_for(api: httpx.AsyncClient, headers: dict[str, str],
                      hooks: list[str]) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for hook in hooks:
        log = await api.get(f"/api/webhooks/{hook}/deliveries", headers=headers,
                            params={"limit": 200})
        found += log.json()["deliveries"]
    return found


async def _until(check: Callable[[], Awaitable[bool]], what: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.1)


async def _dead_tenant(api: httpx.AsyncClient, urls: list[str]) -> tuple[dict[str, str],
                                                                        list[str]]:
    """ann, her dead webhooks, and her messages all Read with their deliveries queued."""
    ann = await signed_in(api, "ann")
    await top_up(api, ann, MESSAGES)
    hooks = []
    for url in urls:
        made = await api.post("/api/webhooks", headers=ann, json={"url": url})
        assert made.status_code == 201, made.text
        hooks.append(made.json()["webhook_id"])
    sent = await api.post("/api/messages/send-bulk-message", headers=ann, json={
        "numbers": [f"2782{n:07d}" for n in range(MESSAGES)], "message": "load"})
    assert sent.status_code == 200, sent.text

    async def all_read() -> bool:
        found = await api.get("/api/messages/messages", headers=ann, params={"status": "Read"})
        return bool(found.json()["pagination"]["total"] == MESSAGES)

    await _until(all_read, "ann's messages read")
    newest: list[object] = [None]

    async def fanned_out() -> bool:  # the outbox stopped growing: every status is in
        await asyncio.sleep(1.2)
        rows = await _queued_for(api, ann, hooks)
        latest, newest[0] = newest[0], max(int(str(d["delivery_id"])) for d in rows)
        return len(rows) >= 10 * MESSAGES and latest == newest[0]

    await _until(fanned_out, "ann's deliveries queued")
    return ann, hooks


def _latencies(hook: Receiver) -> dict[str, float]:
    """Seconds from each status change to its arrival at the receiver."""
    with hook.lock:
        calls = list(zip(hook.calls, hook.arrived, strict=True))
    return {body["status"]: arrived - datetime.fromisoformat(body["timestamp"]).timestamp()
            for (_, _, body, _), arrived in calls}


async def test_dead_endpoints_of_one_tenant_do_not_delay_another(
        database_url: str, fresh_nats_url: str, tmp_path: Path) -> None:
    with black_hole() as h1, black_hole() as h2, black_hole() as h3, black_hole() as h4, \
            black_hole() as h5, receiver("bob-secret") as live:
        holes = [h1, h2, h3, h4, h5]
        dead = [h.url for h in holes] + [refusing_url() for _ in range(5)]
        held: list[int] = []  # ann's POSTs open at each look
        idle: list[float] = []  # looks with none open: seconds since she last gave one up
        async with running_services(database_url, fresh_nats_url, tmp_path,
                                    **LOOPBACK) as settings, gateway_client(settings) as api:
            ann, ann_hooks = await _dead_tenant(api, dead)
            bob = await signed_in(api, "bob")
            await top_up(api, bob, 1)
            made = await api.post("/api/webhooks", headers=bob,
                                  json={"url": live.url, "secret": "bob-secret"})
            assert made.status_code == 201, made.text
            sent = await api.post("/api/messages/send-message", headers=bob,
                                  json={"number": "27821234567", "message": "hi"})
            assert sent.status_code == 200, sent.text

            async def read_arrived() -> bool:
                held.append(sum(h.open for h in holes))
                if held[-1] == 0:
                    idle.append(time.monotonic() - max(h.given_up_at for h in holes))
                assert max(h.open for h in holes) <= 2  # the per-endpoint limit
                return "Read" in _latencies(live)

            await _until(read_arrived, "bob's Read delivered", within=30)
            waiting = [d for d in await _queued_for(api, ann, ann_hooks)
                       if d["state"] == "pending"]
            bobs = await _queued_for(api, bob, [made.json()["webhook_id"]])
    latencies = _latencies(live)
    print(f"bob's delivery latencies: {latencies}; ann's pending: {len(waiting)}; "
          f"ann's POSTs hanging meanwhile: {held}, none, s after one was given up: {idle}")
    # Queued may be "skipped": the device's Sending can reach the outbox first (the two
    # streams are read apart) and be delivered before it.
    assert {d["state"] for d in bobs} <= {"delivered", "skipped"} and len(bobs) == 5, bobs
    assert {"Sending", "Sent", "Delivered", "Read"} <= set(latencies), latencies
    assert max(latencies.values()) < HUNG_POST_LIMIT, latencies
    assert len(waiting) >= 10 * MESSAGES  # ann's backlog was still there throughout
    # and her dead endpoints held workers all along, but between two rounds of her POSTs
    assert max(held) > 0 and all(seconds < REFILL for seconds in idle), (held, idle)
