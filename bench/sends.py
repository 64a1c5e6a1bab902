"""The sends phase against the full embedded stack: cold start and idle memory, single
sends through the Messaging API (JWT) and the Instance API (key pair) at rising
concurrency, Accepted -> Sent at half of the Messaging API's peak, bulk sends of 200
numbers. Each figure
beside the bare baseline server under the same load, just before."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.load import (
    BULK_SIZE,
    accepted_to_sent,
    bulk_body,
    closed_loop,
    instance_body,
    single_body,
)
from bench.procstats import rss_by_process, tree_cpu, tree_rss_mb
from bench.report import ratio
from bench.setup import STACK_SETTINGS, setup_instance, setup_user, wait_http
from launcher.natsserver import free_port
from tests.support.stack import Stack, start_stack

HERE = Path(__file__).resolve().parent
LEVELS = (8, 32, 64)
BULK_CONCURRENCY = (2, 4)
SEND = "/api/messages/send-message"


def say(text: str) -> None:
    print(text, flush=True)


def cold_start(baseline_pid: int) -> tuple[Stack, dict[str, Any]]:
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
    base_rss, _ = tree_rss_mb(baseline_pid)
    result = {"seconds": round(cold, 2), "idle_rss_mb": round(rss, 1), "processes": procs,
              "baseline_rss_mb": round(base_rss, 1),
              "rss_mb_per_process": rss_by_process(stack.proc.pid)}
    say(f"cold start {cold:.2f}s (target <= 5)  idle RSS {rss:.0f} MB in {procs} "
        f"processes (target <= 400; bare uvicorn app {base_rss:.0f} MB)")
    say(f"  RSS MB by process: {result['rss_mb_per_process']}")
    return stack, result


def levels(label: str, stack: Stack, base_url: str, path: str, body: Any,
           headers: dict[str, str], duration: float) -> list[dict[str, Any]]:
    """Closed loops at each of LEVELS, the baseline first at each level."""
    out = []
    for level in LEVELS:
        b = asyncio.run(closed_loop(base_url, path, body, headers, level, duration))
        cpu0 = tree_cpu(stack.proc.pid)
        s = asyncio.run(closed_loop(stack.url, path, body, headers, level, duration))
        cpu1 = tree_cpu(stack.proc.pid)
        s["cpu_s_per_process"] = {k: round(v - cpu0.get(k, 0.0), 2) for k, v in cpu1.items()}
        out.append({"baseline": b, "stack": s})
        say(f"{label} c={level}: stack {s['per_s']}/s p50 {s['p50_ms']} p95 {s['p95_ms']} "
            f"p99 {s['p99_ms']} ms errors {s['errors']} | baseline {b['per_s']}/s "
            f"p99 {b['p99_ms']} ms | ratio {ratio(s['per_s'], b['per_s'])} "
            f"| load {s['loadavg']}")
        say(f"  CPU seconds by process during the run: {s['cpu_s_per_process']}")
    return out


def bulk(stack: Stack, base_url: str, headers: dict[str, str],
         duration: float) -> list[dict[str, Any]]:
    out = []
    path = "/api/messages/send-bulk-message"
    for level in BULK_CONCURRENCY:
        b = asyncio.run(closed_loop(base_url, path, bulk_body, headers, level, duration))
        s = asyncio.run(closed_loop(stack.url, path, bulk_body, headers, level, duration))
        for r in (b, s):
            r["messages_per_s"] = round(r["per_s"] * BULK_SIZE, 1)
        out.append({"baseline": b, "stack": s})
        say(f"bulk c={level}: stack {s['messages_per_s']} msg/s ({s['per_s']} req/s, p99 "
            f"{s['p99_ms']} ms, errors {s['errors']}) | baseline {b['messages_per_s']} "
            f"msg/s | ratio {ratio(s['per_s'], b['per_s'])} | load {s['loadavg']}")
    return out


def run_sends(results: dict[str, Any], duration: float) -> None:
    """Fills `results` with each measurement as it is taken (so a failure keeps the rest)."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    baseline = subprocess.Popen([sys.executable, "-m", "bench.baseline_app", str(port)],
                                cwd=HERE.parent)
    stack: Stack | None = None
    try:
        wait_http(base_url, 20)
        stack, results["cold_start"] = cold_start(baseline.pid)
        headers, _ = setup_user(stack.url)
        results["single"] = levels("single", stack, base_url, SEND, single_body, headers,
                                   duration)
        time.sleep(2)  # let the single-send backlog drain
        # before bulk: its thousands of messages keep the device busy for minutes after
        results["instance"] = levels("instance", stack, base_url, setup_instance(stack),
                                     instance_body, {}, duration)
        peak = max(x["stack"]["per_s"] for x in results["single"])
        time.sleep(2)
        lat = asyncio.run(accepted_to_sent(stack.url, headers, max(peak / 2, 10), duration))
        results["accepted_to_sent"] = lat
        say(f"accepted->sent at {lat['achieved_rate']}/s (half of peak {peak}/s): p50 "
            f"{lat['sent_p50_ms']} p99 {lat['sent_p99_ms']} ms ({lat['seen_sent']}/"
            f"{lat['accepted']} seen) | baseline = the accept round trip itself: p50 "
            f"{lat['accept_p50_ms']} p99 {lat['accept_p99_ms']} ms | load {lat['loadavg']}")
        results["bulk"] = bulk(stack, base_url, headers, duration)
    finally:
        if stack is not None:
            results["stack_exit"] = stack.stop()
            if results["stack_exit"] == 0:  # keep the logs only when something went wrong
                shutil.rmtree(stack.var_dir, ignore_errors=True)
        baseline.terminate()
        baseline.wait(10)
