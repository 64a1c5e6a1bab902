"""The gateway's /health as the launcher reads it (http.client: no HTTP client library
loaded into the process that supervises the stack)."""

from __future__ import annotations

import http.client
import json
from typing import Any


def gateway_health(host: str, port: int, timeout: float = 1.0) -> dict[str, Any] | None:
    """/health's JSON with its HTTP status as `http_status` (200 ok, 503 degraded); None
    when nothing answers there, or something that is not a Switchboard gateway."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/health")
        reply = conn.getresponse()
        body = json.loads(reply.read())
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        conn.close()
    if not isinstance(body, dict) or "services" not in body:
        return None
    return {**body, "http_status": reply.status}


def is_ours(health: dict[str, Any] | None, stack_id: str) -> bool:
    """A healthy answer from this stack's own gateway (its /health names the stack)."""
    return health is not None and health["http_status"] == 200 \
        and health.get("stack") == stack_id


def pool_settled(health: dict[str, Any] | None, transport: str, sim_pool: int) -> bool:
    """The pool is what the transport in use has at start: the simulator's `sim_pool`
    devices linked (it links them itself); a real transport's, whatever is linked by hand
    (none is a valid state, the banner says how to link one), once the device service
    reports it."""
    pool = (health or {}).get("pool")
    if not pool:
        return False
    return transport != "simulator" or pool["linked_devices"] >= sim_pool
