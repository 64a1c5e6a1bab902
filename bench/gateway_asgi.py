"""`python -m bench.gateway_asgi`: CPU µs per request of the gateway app itself, in-process.

The real app (`create_app`, its lifespan, every middleware and exception handler) is
called as an ASGI app, with no server and no socket, on routes that answer without
reaching a service: GET /livez, and both send routes refused at the edge (no credentials;
a bearer token with a bad signature; a declared body over the limit). Rate limits are off
(0), so no NATS is needed. Each case runs `--requests` times per round; the figure is the
median over `--rounds` rounds of CPU time (`time.process_time`) per request, which a
shared machine disturbs far less than wall time.

    python -m bench.gateway_asgi --requests 2000 --rounds 7
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from gateway.app import create_app
from gateway.settings import GatewaySettings
from kernel.tokens import KeyRing, issue_user_token

SEND = "/api/messages/send-message"
V1_SEND = "/api/v1/whatsapp/send"
BODY = json.dumps({"number": "27821234567", "message": "Hello from the benchmark"}).encode()
V1_BODY = json.dumps({"phoneNumber": "27821234567", "message": "Hello"}).encode()
NO_LIMITS = {f"rate_limit_{name}": 0 for name in ("auth", "messages", "bulk", "status",
                                                  "other")}

Case = tuple[str, str, bytes, list[tuple[bytes, bytes]], int]


def cases(forged: str) -> dict[str, Case]:
    """name -> (method, path, body, extra headers, the status it must get)."""
    json_type = [(b"content-type", b"application/json")]
    return {
        "GET /livez": ("GET", "/livez", b"", [], 200),
        "POST send-message, no token (401)": ("POST", SEND, BODY, json_type, 401),
        "POST send-message, bad signature (401)": (
            "POST", SEND, BODY, [*json_type, (b"authorization", f"Bearer {forged}".encode())],
            401),
        "POST v1 send, no key pair (401)": ("POST", V1_SEND, V1_BODY, json_type, 401),
        "POST send-message, body over the limit (413)": (
            "POST", SEND, BODY, [(b"content-length", b"99999999")], 413),
    }


def forged_token() -> str:
    """A well-formed token signed with a key the gateway does not hold."""
    ring = KeyRing("k1", "not-the-gateway's-key-" + "x" * 32, {})
    return issue_user_token(ring, 1, "bench", False, time.time(), 3600)[0]


def scope_of(method: str, path: str, body: bytes,
             headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    given = dict(headers)
    given.setdefault(b"content-length", str(len(body)).encode())
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": b"", "root_path": "", "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000),
            "headers": [(b"host", b"gateway"), *given.items()]}


async def one(app: Any, case: Case) -> None:
    method, path, body, headers, expected = case
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope_of(method, path, body, headers), receive, send)
    if sent[0]["status"] != expected:
        raise AssertionError(f"{method} {path}: {sent[0]['status']}, not {expected}")


async def measure(app: Any, case: Case, requests: int, rounds: int) -> dict[str, float]:
    """Median CPU and wall µs per request over `rounds` rounds of `requests` requests."""
    for _ in range(min(requests, 200)):  # warm-up: imports and caches
        await one(app, case)
    cpu, wall = [], []
    for _ in range(rounds):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(requests):
            await one(app, case)
        cpu.append((time.process_time() - cpu0) / requests * 1e6)
        wall.append((time.perf_counter() - wall0) / requests * 1e6)
    return {"cpu_us": statistics.median(cpu), "wall_us": statistics.median(wall)}


async def run(requests: int, rounds: int) -> dict[str, dict[str, float]]:
    settings = GatewaySettings(var_dir=Path(tempfile.mkdtemp(prefix="bench-gateway-")),
                               **NO_LIMITS)  # type: ignore[arg-type]
    app = create_app(settings)
    figures: dict[str, dict[str, float]] = {}
    async with app.router.lifespan_context(app):
        for name, case in cases(forged_token()).items():
            figures[name] = await measure(app, case, requests, rounds)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway_asgi")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    figures = asyncio.run(run(args.requests, args.rounds))
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print(f"gateway in-process, {args.requests} requests x {args.rounds} rounds, "
          f"load average {' '.join(load)}")
    for name, f in figures.items():
        print(f"  {name:<48} CPU {f['cpu_us']:8.1f} µs   wall {f['wall_us']:8.1f} µs")


if __name__ == "__main__":
    main()
