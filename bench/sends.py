"""The sends phase against the full embedded stack: cold start, idle memory and idle CPU;
single sends at c=64 followed to the last Read (the CPU per message of the whole stack,
the lead figure); single sends through the Messaging API (JWT) and the Instance API (key
pair) at rising concurrency; Accepted -> Sent at half of the Messaging API's peak; bulk
sends of 200 numbers followed to the last Read. Each figure beside the bare baseline
server under the same load, just before."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.endtoend import idle_cpu, to_read
from bench.load import (
    BULK_SIZE,
    accepted_to_sent,
    bulk_body,
    closed_loop,
    instance_body,
    single_body,
)
from bench.procstats import cpu_spent, rss_by_process, tree_cpu, tree_rss_mb
from bench.report import ratio
from bench.setup import STACK_SETTINGS, setup_instance, setup_user, wait_http
from launcher.natsserver import free_port
from tests.e2e.test_local_keys import banner
from tests.support.stack import Stack, start_stack

HERE = Path(__file__).resolve().parent
LEVELS = (8, 32, 64)
END_TO_END_CONCURRENCY = 64
BULK_CONCURRENCY = (4,)
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
    banner(stack)  # `up` is done starting: its status probe for the banner has exited
    time.sleep(3)
    rss, procs = tree_rss_mb(stack.proc.pid)
    base_rss, _ = tree_rss_mb(baseline_pid)
    result: dict[str, Any] = {
        "seconds": round(cold, 2), "idle_rss_mb": round(rss, 1), "processes": procs,
        "baseline_rss_mb": round(base_rss, 1),
        "rss_mb_per_process": rss_by_process(stack.proc.pid)}
    say(f"cold start {cold:.2f}s (target <= 5)  idle RSS {rss:.0f} MB in {procs} "
        f"processes (target <= 400; bare uvicorn app {base_rss:.0f} MB)")
    say(f"  RSS MB by process: {result['rss_mb_per_process']}")
    result["idle_cpu"] = idle_cpu(stack.proc.pid)
    say(f"idle CPU {result['idle_cpu']['percent_of_one_core']} % of one core (target <= 2): "
        f"{result['idle_cpu']['percent_by_process']}")
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
        s["cpu_s_per_process"] = {k: round(v, 2) for k, v in cpu_spent(cpu0, cpu1).items()}
        out.append({"baseline": b, "stack": s})
        say(f"{label} c={level}: stack {s['per_s']}/s p50 {s['p50_ms']} p95 {s['p95_ms']} "
            f"p99 {s['p99_ms']} ms errors {s['errors']} | baseline {b['per_s']}/s "
            f"p99 {b['p99_ms']} ms | ratio {ratio(s['per_s'], b['per_s'])} "
            f"| load {s['loadavg']}")
        say(f"  CPU seconds by process during the run: {s['cpu_s_per_process']}")
    return out


def end_to_end(stack: Stack, base_url: str, base_pid: int,
               duration: float) -> dict[str, Any]:
    headers, _ = setup_user(stack.url, "e2e")
    x = to_read(stack.url, stack.proc.pid, base_url, base_pid, SEND, single_body, headers,
                END_TO_END_CONCURRENCY, duration)
    s, b = x["stack"], x["baseline"]
    say(f"single c={END_TO_END_CONCURRENCY} to Read: CPU {s['cpu_ms_per_message']} ms per "
        f"message (baseline {b['cpu_ms_per_request']} ms per request) | {s['per_s']} "
        f"accepted/s p99 {s['p99_ms']} ms | {s['read']}/{s['messages']} Read, the last "
        f"{s['last_read_after_load_s']} s after the load | load {s['loadavg']}")
    say(f"  CPU ms per message by process: {s['cpu_ms_per_message_by_process']}")
    return x


def bulk(stack: Stack, base_url: str, base_pid: int,
         duration: float) -> list[dict[str, Any]]:
    out = []
    path = "/api/messages/send-bulk-message"
    for level in BULK_CONCURRENCY:
        headers, _ = setup_user(stack.url, f"bulk{level}")
        x = to_read(stack.url, stack.proc.pid, base_url, base_pid, path, bulk_body, headers,
                    level, duration, per_request=BULK_SIZE)
        s, b = x["stack"], x["baseline"]
        b["messages_per_s"] = round(b["per_s"] * BULK_SIZE, 1)
        out.append(x)
        say(f"bulk c={level}: stack {s['messages_per_s']} msg/s accepted, {s['read_per_s']} "
            f"msg/s Read to the last ({s['read']}/{s['messages']}, the last "
            f"{s['last_read_after_load_s']} s after the load), CPU {s['cpu_ms_per_message']} "
            f"ms per message ({s['per_s']} req/s, p99 {s['p99_ms']} ms, errors "
            f"{s['errors']}) | baseline {b['messages_per_s']} msg/s | ratio "
            f"{ratio(s['per_s'], b['per_s'])} | load {s['loadavg']}")
    return out


@contextmanager
def baseline_server() -> Iterator[subprocess.Popen[bytes]]:
    """The bare baseline app on a free port (`port_of` it), stopped on the way out."""
    port = free_port()
    baseline = subprocess.Popen([sys.executable, "-m", "bench.baseline_app", str(port)],
                                cwd=HERE.parent)
    try:
        wait_http(f"http://127.0.0.1:{port}", 20)
        yield baseline
    finally:
        baseline.terminate()
        baseline.wait(10)


def port_of(baseline: subprocess.Popen[bytes]) -> int:
    args = baseline.args
    assert isinstance(args, list)
    return int(args[-1])


def stop_stack(stack: Stack | None, results: dict[str, Any]) -> None:
    if stack is not None:
        results["stack_exit"] = stack.stop()
        if results["stack_exit"] == 0:  # keep the logs only when something went wrong
            shutil.rmtree(stack.var_dir, ignore_errors=True)


def run_idle(results: dict[str, Any]) -> None:
    """Only the cold start and the idle stack's memory and CPU."""
    with baseline_server() as baseline:
        stack: Stack | None = None
        try:
            stack, results["cold_start"] = cold_start(baseline.pid)
        finally:
            stop_stack(stack, results)


def run_sends(results: dict[str, Any], duration: float) -> None:
    """Fills `results` with each measurement as it is taken (so a failure keeps the rest)."""
    with baseline_server() as baseline:
        base_url = f"http://127.0.0.1:{port_of(baseline)}"
        stack: Stack | None = None
        try:
            stack, results["cold_start"] = cold_start(baseline.pid)
            _loads(results, duration, stack, base_url, baseline.pid)
        finally:
            stop_stack(stack, results)


def _loads(results: dict[str, Any], duration: float, stack: Stack, base_url: str,
           base_pid: int) -> None:
    """The drained measurements first (each waits for its last Read), then the accept-only
    levels, whose backlogs no later figure inherits."""
    results["end_to_end"] = end_to_end(stack, base_url, base_pid, duration)
    peak = results["end_to_end"]["stack"]["per_s"]
    headers, _ = setup_user(stack.url)
    lat = asyncio.run(accepted_to_sent(stack.url, headers, max(peak / 2, 10), duration))
    results["accepted_to_sent"] = lat
    say(f"accepted->sent at {lat['achieved_rate']}/s (half of peak {peak}/s): p50 "
        f"{lat['sent_p50_ms']} p99 {lat['sent_p99_ms']} ms ({lat['seen_sent']}/"
        f"{lat['accepted']} seen) | baseline = the accept round trip itself: p50 "
        f"{lat['accept_p50_ms']} p99 {lat['accept_p99_ms']} ms | load {lat['loadavg']}")
    results["bulk"] = bulk(stack, base_url, base_pid, duration)
    results["single"] = levels("single", stack, base_url, SEND, single_body, headers,
                               duration)
    time.sleep(2)
    results["instance"] = levels("instance", stack, base_url, setup_instance(stack),
                                 instance_body, {}, duration)
