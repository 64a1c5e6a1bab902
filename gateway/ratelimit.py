"""Rate limits per route class, shared by every gateway replica through NATS JetStream KV
(the counters are kernel/ratelimit.py's, also used at the services' gRPC edge).

Every route that takes `CurrentUser` is limited per user and every Instance API route per
instance, in its route class; sign-in routes per client address (gateway/deps.py). When
NATS stalls, each replica counts in-process until it answers again (never fails open).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

from gateway.errors import ApiError
from kernel import bus
from kernel.config import Settings
from kernel.ratelimit import RateLimitedError, RateLimiter, Verdict, limiter_for, limits_from

SENDS = {"/api/messages/send-message", "/api/v1/whatsapp/send", "/api/messages/send-media",
         "/api/v1/whatsapp/send-media"}
BULK_SENDS = {"/api/messages/send-bulk-message"}


def route_class(method: str, path: str) -> str:
    """The seed's classes: single messages, bulk messages, status checks (every read);
    other writes have a class of their own. Sign-in routes use "auth" explicitly."""
    if method == "POST" and path.rstrip("/") in SENDS:
        return "messages"
    if method == "POST" and path.rstrip("/") in BULK_SENDS:
        return "bulk"
    return "status" if method in ("GET", "HEAD") else "other"


async def enforce(limiter: RateLimiter, route: str, subject: str) -> Verdict | None:
    """The verdict for one request; RATE_LIMITED (429, Retry-After) when over."""
    try:
        return await limiter.enforce(route, subject)
    except RateLimitedError as exc:
        raise ApiError("RATE_LIMITED", exc.message, headers=exc.verdict.headers()) from exc


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The limiter of a gateway app: its own NATS connection, drained at shutdown."""
    settings: Settings = app.state.settings
    if not any(v > 0 for v in limits_from(settings).values()):
        app.state.rate_limiter = RateLimiter.unlimited()
        yield
        return
    nc = await bus.connect_as(settings, "gateway-ratelimit")
    try:
        app.state.rate_limiter = await limiter_for(nc.jetstream(), settings)
        yield
    finally:
        await nc.drain()


def limiter_of(request: Request) -> RateLimiter:
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        raise RuntimeError("the rate limiter's lifespan did not run (gateway/routes/limits.py)")
    return limiter
