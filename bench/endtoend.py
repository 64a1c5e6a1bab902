"""End to end: a closed loop of sends, then the wait until every accepted message is
Read, with the CPU the whole stack spent from the first send to the last Read. The lead
figure of the benchmark is that CPU per message; beside it, the bare baseline server's
CPU per request under the same closed loop, measured just before."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from bench.load import closed_loop
from bench.procstats import cpu_spent, tree_cpu

DRAIN_LIMIT_S = 300.0  # how long the stack may take to Read what it accepted


def read_count(url: str, headers: dict[str, str]) -> int:
    """How many of the user's messages are Read (the history's total for that status)."""
    found = httpx.get(f"{url}/api/messages/messages", params={"status": "Read", "per_page": 1},
                      headers=headers, timeout=30)
    found.raise_for_status()
    return int(found.json()["pagination"]["total"])


def wait_read(url: str, headers: dict[str, str], expected: int) -> int:
    """Polls until `expected` messages are Read or DRAIN_LIMIT_S passes; the count seen."""
    deadline = time.perf_counter() + DRAIN_LIMIT_S
    seen = read_count(url, headers)
    while seen < expected and time.perf_counter() < deadline:
        time.sleep(0.1)
        seen = read_count(url, headers)
    return seen


def cpu_s(root: int) -> float:
    return sum(tree_cpu(root).values())


def to_read(stack_url: str, stack_pid: int, base_url: str, base_pid: int, path: str,
            body: Any, headers: dict[str, str], concurrency: int, duration: float,
            per_request: int = 1) -> dict[str, Any]:
    """The baseline's closed loop, then the stack's, followed to the last Read."""
    b_cpu0 = cpu_s(base_pid)
    b = asyncio.run(closed_loop(base_url, path, body, headers, concurrency, duration))
    b["cpu_ms_per_request"] = round((cpu_s(base_pid) - b_cpu0) * 1000 / max(
        b["accepted"] + b["warm_up_accepted"], 1), 3)
    before, start = tree_cpu(stack_pid), time.perf_counter()
    s = asyncio.run(closed_loop(stack_url, path, body, headers, concurrency, duration))
    stopped = time.perf_counter()
    messages = (s["accepted"] + s["warm_up_accepted"]) * per_request  # all to be Read
    seen = wait_read(stack_url, headers, messages)
    last_read = time.perf_counter()
    after = tree_cpu(stack_pid)
    spent = {k: round(v, 2) for k, v in cpu_spent(before, after).items()}
    s.update({
        "messages": messages, "read": seen,
        "messages_per_s": round(s["accepted"] * per_request / s["seconds"], 1),
        "read_per_s": round(seen / (last_read - start), 1),
        "last_read_after_load_s": round(last_read - stopped, 2),
        "cpu_s_per_process": spent,
        "cpu_ms_per_message": round(sum(spent.values()) * 1000 / max(messages, 1), 2),
        "cpu_ms_per_message_by_process": {
            k: round(v * 1000 / max(messages, 1), 2) for k, v in spent.items() if v}})
    return {"baseline": b, "stack": s}


def idle_cpu(stack_pid: int, seconds: float = 10.0) -> dict[str, Any]:
    """The idle stack's CPU over `seconds`, as a percentage of one core, by process."""
    before = tree_cpu(stack_pid)
    time.sleep(seconds)
    spent = cpu_spent(before, tree_cpu(stack_pid))
    by = {k: round(v * 100 / seconds, 2) for k, v in spent.items()}
    return {"seconds": seconds, "percent_of_one_core": round(sum(by.values()), 2),
            "percent_by_process": by}
