"""`python -m bench.gateway_cpu`: the gateway's CPU per accepted message, on the real stack.

Starts the embedded stack (as `python -m bench` does), then drives single sends through
the Messaging API and the Instance API in closed loops, and reads each process's CPU
seconds before and after: the gateway's share per accepted message is the figure; the
rest of the stack is printed beside it. CPU per message, not throughput, is what a shared
machine leaves comparable between runs.

    python -m bench.gateway_cpu --duration 8 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from bench.load import closed_loop, instance_body, single_body
from bench.procstats import cpu_spent, loadavg, tree_cpu
from bench.setup import STACK_SETTINGS, setup_instance, setup_user
from tests.support.stack import Stack, start_stack

SEND = "/api/messages/send-message"


def measure(stack: Stack, label: str, path: str, body: object, headers: dict[str, str],
            concurrency: int, duration: float) -> None:
    cpu0 = tree_cpu(stack.proc.pid)
    run = asyncio.run(closed_loop(stack.url, path, body, headers, concurrency, duration))
    cpu1 = tree_cpu(stack.proc.pid)
    accepted = run["accepted"] + run["warm_up_accepted"]
    per_message = {k: round(v / max(accepted, 1) * 1000, 2)
                   for k, v in cpu_spent(cpu0, cpu1).items()}
    print(f"{label} c={concurrency}: {accepted} accepted ({run['per_s']}/s, errors "
          f"{run['errors']}); gateway CPU {per_message.get('gateway')} ms per message | "
          f"load {run['loadavg']}", flush=True)
    print(f"  CPU ms per message by process: {per_message}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway_cpu")
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    stack = start_stack(Path(tempfile.mkdtemp(prefix="switchboard-gwcpu-")), **STACK_SETTINGS,
                        processes="split")  # the gateway's CPU: a process of its own
    try:
        stack.wait_healthy(120)
        headers, _ = setup_user(stack.url)
        v1_send = setup_instance(stack)
        print(f"load average {loadavg()}", flush=True)
        for _ in range(2):  # the first round also warms the services' caches
            measure(stack, "Messaging API send-message", SEND, single_body, headers,
                    args.concurrency, args.duration)
            measure(stack, "Instance API send", v1_send, instance_body, {},
                    args.concurrency, args.duration)
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
