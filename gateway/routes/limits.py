"""No routes: this router carries the rate limiter's lifespan (gateway/ratelimit.py), so
every gateway app opens the limiter's NATS KV bucket at start-up and drains it at shutdown."""

from __future__ import annotations

from gateway import ratelimit
from gateway.leanroute import api_router

router = api_router(lifespan=ratelimit.lifespan)
