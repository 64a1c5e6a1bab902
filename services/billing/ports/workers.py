"""Billing's background work: consumers that wait for their source stream, and periodic
tasks (the renewal worker)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from kernel.bus import stream_name
from kernel.consumer import DurableConsumer

log = logging.getLogger(__name__)

Worker = Callable[[asyncio.Event], Awaitable[None]]


def worker(js: JetStreamContext, consumer: DurableConsumer) -> Worker:
    """Run `consumer` once its source stream exists (its own service creates it)."""

    async def run(stop: asyncio.Event) -> None:
        if await stream_ready(js, consumer.service, stop):
            await consumer.run(stop)

    return run


async def stream_ready(js: JetStreamContext, service: str, stop: asyncio.Event) -> bool:
    while not stop.is_set():
        try:
            await js.stream_info(stream_name(service))
            return True
        except NotFoundError:
            await pause(stop, 0.5)
    return False


async def pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def periodic(task: Callable[[], Awaitable[object]], seconds: float) -> Worker:
    """Run `task` every `seconds` until stopped; a failure is logged and retried."""

    async def run(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await task()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("periodic task %s failed", getattr(task, "__name__", task))
            await pause(stop, seconds)

    return run
