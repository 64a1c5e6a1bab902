"""The load: closed loops of POSTs over raw keep-alive connections, and the open loop that
times Accepted -> Sent through the SSE stream."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

from bench.procstats import loadavg
from bench.rawhttp import Connection

BULK_SIZE = 200


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def per_second(done_at: list[float], seconds: float) -> list[int]:
    """How many requests completed in each whole second of the run."""
    counts = [0] * max(1, int(seconds + 0.999))
    for t in done_at:
        counts[min(len(counts) - 1, int(t))] += 1
    return counts


async def closed_loop(url: str, path: str, make_body: Any, headers: dict[str, str],
                      concurrency: int, duration: float) -> dict[str, Any]:
    """`concurrency` workers, one keep-alive connection each, POST back to back for
    `duration` seconds. Keys starting with `_` (each accepted request's latency and
    completion time) are for the charts and stay out of the JSON."""
    latencies: list[float] = []
    done_at: list[float] = []
    errors: dict[str, int] = {}
    conns = [Connection(url, headers) for _ in range(concurrency)]
    # warm the connections (these requests count as `warm_up_accepted`, not `accepted`)
    warm = await asyncio.gather(*(c.post(path, make_body(i)) for i, c in enumerate(conns)))
    start = time.perf_counter()
    stop = start + duration
    seq = [concurrency]

    async def worker(conn: Connection) -> None:
        while time.perf_counter() < stop:
            seq[0] += 1
            t0 = time.perf_counter()
            try:
                status, _ = await conn.post(path, make_body(seq[0]))
                code = str(status)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                code = type(exc).__name__
                await conn.close()
            t1 = time.perf_counter()
            if code == "200":
                latencies.append(t1 - t0)
                done_at.append(t1 - start)
            else:
                errors[code] = errors.get(code, 0) + 1

    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - start
    for c in conns:
        await c.close()
    ms = [x * 1000 for x in latencies]
    return {"concurrency": concurrency, "seconds": round(elapsed, 2), "accepted": len(ms),
            "warm_up_accepted": sum(1 for status, _ in warm if status == 200),
            "per_s": round(len(ms) / elapsed, 1), "p50_ms": round(pct(ms, 50), 2),
            "p95_ms": round(pct(ms, 95), 2), "p99_ms": round(pct(ms, 99), 2),
            "errors": errors, "accepted_per_second": per_second(done_at, elapsed),
            "loadavg": loadavg(), "_latencies_ms": ms, "_done_at_s": done_at}


def single_body(i: int) -> dict[str, str]:
    return {"number": f"2782{i % 10_000_000:07d}", "message": f"bench message {i}"}


def instance_body(i: int) -> dict[str, str]:
    return {"phoneNumber": f"2783{i % 10_000_000:07d}", "message": f"bench instance {i}"}


def bulk_body(i: int) -> dict[str, Any]:
    return {"numbers": [f"2782{(i * BULK_SIZE + k) % 10**7:07d}" for k in range(BULK_SIZE)],
            "message": f"bench bulk {i}"}


async def accepted_to_sent(url: str, headers: dict[str, str], rate: float,
                           duration: float) -> dict[str, Any]:
    """Open loop at `rate` sends/s; the SSE stream timestamps each message's first
    Sent-or-later status; latency = that arrival - the send's 200 response. The sends go
    through `rawhttp` connections (one per request in flight, reused), as the closed
    loops' do: httpx's pool cost the client more CPU than the stack spent accepting, so
    on two cores the client's own queueing showed as latency. httpx only reads the SSE."""
    accepted: dict[str, float] = {}
    sent: dict[str, float] = {}
    accept_ms: list[float] = []
    ready = asyncio.Event()
    idle: list[Connection] = []

    async def listen(client: httpx.AsyncClient) -> None:
        async with client.stream("GET", "/api/messages/stream",
                                 timeout=httpx.Timeout(None)) as response:
            ready.set()
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                now = time.perf_counter()
                data = json.loads(line[6:])
                if data.get("status") in ("Sent", "Delivered", "Read") and \
                        data.get("queue_id") not in sent:
                    sent[data["queue_id"]] = now

    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        listener = asyncio.create_task(listen(client))
        await asyncio.wait_for(ready.wait(), 10)
        await asyncio.sleep(0.3)

        async def one(i: int) -> None:
            conn = idle.pop() if idle else Connection(url, headers)
            t0 = time.perf_counter()
            status, payload = await conn.post("/api/messages/send-message", single_body(i))
            t1 = time.perf_counter()
            idle.append(conn)
            if status == 200:
                accepted[json.loads(payload)["queue_id"]] = t1
                accept_ms.append((t1 - t0) * 1000)

        tasks = []
        start = time.perf_counter()
        n = int(rate * duration)
        for i in range(n):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        actual_rate = len(accepted) / (time.perf_counter() - start)
        for _ in range(100):  # up to 10 s for the last statuses
            if set(accepted) <= set(sent):
                break
            await asyncio.sleep(0.1)
        listener.cancel()
        for conn in idle:
            await conn.close()
    lat = [max(0.0, sent[q] - t) * 1000 for q, t in accepted.items() if q in sent]
    return {"target_rate": round(rate, 1), "achieved_rate": round(actual_rate, 1),
            "accepted": len(accepted), "seen_sent": len(lat),
            "sent_p50_ms": round(pct(lat, 50), 2), "sent_p99_ms": round(pct(lat, 99), 2),
            "accept_p50_ms": round(pct(accept_ms, 50), 2),
            "accept_p99_ms": round(pct(accept_ms, 99), 2), "loadavg": loadavg(),
            "_latencies_ms": lat, "_accept_ms": accept_ms}
