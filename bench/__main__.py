"""`python -m bench`: every benchmark in order, each beside a baseline from the same run.

Writes bench/results/<UTC timestamp>.json (git-ignored) and prints a table. Traffic goes to
127.0.0.1 only; each phase is bounded in time (the whole run is a few minutes)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.procstats import loadavg, machine, rss_by_process, tree_cpu, tree_rss_mb
from bench.rawhttp import Connection
from launcher.natsserver import free_port
from tests.support.stack import Stack, start_stack

HERE = Path(__file__).resolve().parent
LEVELS = (8, 32, 64)
DURATION = float(os.environ.get("BENCH_DURATION", "6"))
BULK_SIZE = 200
BULK_CONCURRENCY = (2, 4)
TARGETS = {"single_accepted_per_s": 1500, "single_p99_ms": 50, "bulk_messages_per_s": 20_000,
           "sent_p99_ms": 100, "cold_start_s": 5.0, "idle_rss_mb": 400}
ADMIN = ("benchadmin", "bench-admin-password-1")
STACK_SETTINGS = {
    "admin_user": ADMIN[0], "admin_password": ADMIN[1],
    "sim_delivery_delay_ms": "0", "sim_read_delay_ms": "0",
    # 0 = unlimited: the benchmark measures the pipeline, not the limiter's refusals.
    "rate_limit_auth": "0", "rate_limit_messages": "0", "rate_limit_bulk": "0",
    "rate_limit_status": "0", "rate_limit_other": "0",
}


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def closed_loop(url: str, path: str, make_body: Any, headers: dict[str, str],
                      concurrency: int, duration: float) -> dict[str, Any]:
    """`concurrency` workers, one keep-alive connection each, POST back to back for
    `duration` seconds."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    conns = [Connection(url, headers) for _ in range(concurrency)]
    # warm the connections
    await asyncio.gather(*(c.post(path, make_body(i)) for i, c in enumerate(conns)))
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
            if code == "200":
                latencies.append(time.perf_counter() - t0)
            else:
                errors[code] = errors.get(code, 0) + 1

    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - start
    for c in conns:
        await c.close()
    ms = [x * 1000 for x in latencies]
    return {"concurrency": concurrency, "seconds": round(elapsed, 2), "accepted": len(ms),
            "per_s": round(len(ms) / elapsed, 1), "p50_ms": round(pct(ms, 50), 2),
            "p95_ms": round(pct(ms, 95), 2), "p99_ms": round(pct(ms, 99), 2),
            "errors": errors, "loadavg": loadavg()}


def single_body(i: int) -> dict[str, str]:
    return {"number": f"2782{i % 10_000_000:07d}", "message": f"bench message {i}"}


def bulk_body(i: int) -> dict[str, Any]:
    return {"numbers": [f"2782{(i * BULK_SIZE + k) % 10**7:07d}" for k in range(BULK_SIZE)],
            "message": f"bench bulk {i}"}


def wait_http(url: str, timeout: float) -> float:
    start = time.perf_counter()
    deadline = start + timeout
    while time.perf_counter() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return time.perf_counter() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise TimeoutError(url)


def setup_user(url: str) -> tuple[dict[str, str], int]:
    api = httpx.Client(base_url=url, timeout=30)
    name = f"bench{int(time.time())}"
    reg = api.post("/api/auth/register", json={"username": name, "password": "bench-password-1",
                                               "email": f"{name}@example.com"})
    reg.raise_for_status()
    user_id = reg.json()["user_id"]
    admin = api.post("/api/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]})
    admin.raise_for_status()
    top = api.post(f"/api/admin/users/{user_id}/credits", json={"amount": 10_000_000},
                   headers={"Authorization": f"Bearer {admin.json()['access_token']}"})
    top.raise_for_status()
    token = api.post("/api/auth/login", json={"username": name, "password": "bench-password-1"})
    token.raise_for_status()
    return {"Authorization": f"Bearer {token.json()['access_token']}"}, user_id


async def accepted_to_sent(url: str, headers: dict[str, str], rate: float,
                           duration: float) -> dict[str, Any]:
    """Open loop at `rate` sends/s; the SSE stream timestamps each message's first
    Sent-or-later status; latency = that arrival - the send's 200 response."""
    accepted: dict[str, float] = {}
    sent: dict[str, float] = {}
    accept_ms: list[float] = []
    ready = asyncio.Event()

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

    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits,
                                 timeout=30) as client:
        listener = asyncio.create_task(listen(client))
        await asyncio.wait_for(ready.wait(), 10)
        await asyncio.sleep(0.3)

        async def one(i: int) -> None:
            t0 = time.perf_counter()
            response = await client.post("/api/messages/send-message", json=single_body(i))
            t1 = time.perf_counter()
            if response.status_code == 200:
                accepted[response.json()["queue_id"]] = t1
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
    lat = [max(0.0, sent[q] - t) * 1000 for q, t in accepted.items() if q in sent]
    return {"target_rate": round(rate, 1), "achieved_rate": round(actual_rate, 1),
            "accepted": len(accepted), "seen_sent": len(lat),
            "sent_p50_ms": round(pct(lat, 50), 2), "sent_p99_ms": round(pct(lat, 99), 2),
            "accept_p50_ms": round(pct(accept_ms, 50), 2),
            "accept_p99_ms": round(pct(accept_ms, 99), 2), "loadavg": loadavg()}


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def main() -> int:
    results: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
                               "machine": machine(), "loadavg_start": loadavg(),
                               "targets": TARGETS, "duration_per_level_s": DURATION}
    print(f"machine {results['machine']}  loadavg {results['loadavg_start']}", flush=True)

    # 0. baseline server: bare Starlette JSON POST on uvicorn (also the client's ceiling)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    baseline = subprocess.Popen([sys.executable, "-m", "bench.baseline_app", str(port)],
                                cwd=HERE.parent)
    stack: Stack | None = None
    try:
        wait_http(base_url, 20)

        # 1. cold start and idle memory
        var_dir = Path(tempfile.mkdtemp(prefix="switchboard-bench-"))
        t0 = time.perf_counter()
        stack = start_stack(var_dir, **STACK_SETTINGS)
        deadline = time.perf_counter() + 60
        while True:
            assert stack.proc.poll() is None, "stack exited; logs in " + str(var_dir)
            try:
                if httpx.get(f"{stack.url}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.perf_counter() > deadline:
                raise TimeoutError(f"not healthy; logs in {var_dir}/logs")
            time.sleep(0.02)
        cold = time.perf_counter() - t0
        time.sleep(3)
        rss, procs = tree_rss_mb(stack.proc.pid)
        base_rss, _ = tree_rss_mb(baseline.pid)
        results["cold_start"] = {"seconds": round(cold, 2), "idle_rss_mb": round(rss, 1),
                                 "processes": procs, "baseline_rss_mb": round(base_rss, 1),
                                 "rss_mb_per_process": rss_by_process(stack.proc.pid)}
        print(f"cold start {cold:.2f}s (target <= 5)  idle RSS {rss:.0f} MB in {procs} "
              f"processes (target <= 400; bare uvicorn app {base_rss:.0f} MB)", flush=True)
        print(f"  RSS MB by process: {results['cold_start']['rss_mb_per_process']}", flush=True)

        headers, _ = setup_user(stack.url)

        # 2. single sends, rising concurrency, baseline first at each level
        single = []
        for level in LEVELS:
            b = asyncio.run(closed_loop(base_url, "/api/messages/send-message", single_body,
                                        headers, level, DURATION))
            cpu0 = tree_cpu(stack.proc.pid)
            s = asyncio.run(closed_loop(stack.url, "/api/messages/send-message", single_body,
                                        headers, level, DURATION))
            cpu1 = tree_cpu(stack.proc.pid)
            s["cpu_s_per_process"] = {k: round(v - cpu0.get(k, 0.0), 2)
                                      for k, v in cpu1.items()}
            single.append({"baseline": b, "stack": s})
            print(f"single c={level}: stack {s['per_s']}/s p50 {s['p50_ms']} p95 {s['p95_ms']} "
                  f"p99 {s['p99_ms']} ms errors {s['errors']} | baseline {b['per_s']}/s "
                  f"p99 {b['p99_ms']} ms | ratio {ratio(s['per_s'], b['per_s'])} "
                  f"| load {s['loadavg']}", flush=True)
            print(f"  CPU seconds by process during the run: {s['cpu_s_per_process']}",
                  flush=True)
        results["single"] = single

        # 3. accepted -> sent at about half of the peak single-send rate
        peak = max(x["stack"]["per_s"] for x in single)
        time.sleep(2)  # let the single-send backlog drain
        lat = asyncio.run(accepted_to_sent(stack.url, headers, max(peak / 2, 10), DURATION))
        results["accepted_to_sent"] = lat
        print(f"accepted->sent at {lat['achieved_rate']}/s (half of peak {peak}/s): p50 "
              f"{lat['sent_p50_ms']} p99 {lat['sent_p99_ms']} ms ({lat['seen_sent']}/"
              f"{lat['accepted']} seen) | baseline = the accept round trip itself: p50 "
              f"{lat['accept_p50_ms']} p99 {lat['accept_p99_ms']} ms | load {lat['loadavg']}",
              flush=True)
        # 4. bulk sends of 200 numbers
        bulk = []
        for level in BULK_CONCURRENCY:
            b = asyncio.run(closed_loop(base_url, "/api/messages/send-bulk-message", bulk_body,
                                        headers, level, DURATION))
            s = asyncio.run(closed_loop(stack.url, "/api/messages/send-bulk-message", bulk_body,
                                        headers, level, DURATION))
            for r in (b, s):
                r["messages_per_s"] = round(r["per_s"] * BULK_SIZE, 1)
            bulk.append({"baseline": b, "stack": s})
            print(f"bulk c={level}: stack {s['messages_per_s']} msg/s ({s['per_s']} req/s, p99 "
                  f"{s['p99_ms']} ms, errors {s['errors']}) | baseline {b['messages_per_s']} "
                  f"msg/s | ratio {ratio(s['per_s'], b['per_s'])} | load {s['loadavg']}",
                  flush=True)
        results["bulk"] = bulk

    finally:
        if stack is not None:
            results["stack_exit"] = stack.stop()
            if results["stack_exit"] == 0:  # keep the logs only when something went wrong
                shutil.rmtree(stack.var_dir, ignore_errors=True)
        baseline.terminate()
        baseline.wait(10)
    results["loadavg_end"] = loadavg()
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    path = out / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results, indent=2))
    print_table(results)
    print(f"results: {path}")
    return 0


def print_table(r: dict[str, Any]) -> None:
    t = TARGETS
    rows = [("benchmark", "measured", "baseline", "ratio", "target")]
    for x in r.get("single", []):
        s, b = x["stack"], x["baseline"]
        rows.append((f"single c={s['concurrency']} accepted/s", f"{s['per_s']}", f"{b['per_s']}",
                     ratio(s["per_s"], b["per_s"]), f">= {t['single_accepted_per_s']}"))
        rows.append((f"single c={s['concurrency']} p50/p95/p99 ms",
                     f"{s['p50_ms']}/{s['p95_ms']}/{s['p99_ms']}",
                     f"{b['p50_ms']}/{b['p95_ms']}/{b['p99_ms']}",
                     ratio(s["p99_ms"], b["p99_ms"]), f"p99 <= {t['single_p99_ms']}"))
    for x in r.get("bulk", []):
        s, b = x["stack"], x["baseline"]
        rows.append((f"bulk x{BULK_SIZE} c={s['concurrency']} msg/s", f"{s['messages_per_s']}",
                     f"{b['messages_per_s']}", ratio(s["per_s"], b["per_s"]),
                     f">= {t['bulk_messages_per_s']}"))
    if "accepted_to_sent" in r:
        a = r["accepted_to_sent"]
        rows.append((f"accepted->sent p50/p99 ms @{a['achieved_rate']}/s",
                     f"{a['sent_p50_ms']}/{a['sent_p99_ms']}",
                     f"{a['accept_p50_ms']}/{a['accept_p99_ms']} (accept RTT)",
                     ratio(a["sent_p99_ms"], a["accept_p99_ms"]), f"p99 <= {t['sent_p99_ms']}"))
    if "cold_start" in r:
        c = r["cold_start"]
        rows.append(("cold start to /health 200 s", f"{c['seconds']}", "-", "-",
                     f"<= {t['cold_start_s']}"))
        rows.append(("idle stack RSS MB", f"{c['idle_rss_mb']} ({c['processes']} procs)",
                     f"{c['baseline_rss_mb']} (bare uvicorn)",
                     ratio(c["idle_rss_mb"], c["baseline_rss_mb"]), f"<= {t['idle_rss_mb']}"))
    widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
    for row in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))
    print(f"loadavg start {r['loadavg_start']}  end {r.get('loadavg_end')}")


if __name__ == "__main__":
    sys.exit(main())
