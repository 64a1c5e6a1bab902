"""No routes: this router carries the rate limiter's lifespan (gateway/ratelimit.py), so
every gateway app opens the limiter's NATS KV bucket at start-up and drains it at shutdown."""

from __future__ import annotations

from fastapi import APIRouter

from gateway import ratelimit

router = APIRouter(lifespan=ratelimit.lifespan)
