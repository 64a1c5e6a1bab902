"""Waiting for the event streams a projection reads, which other services create.

A durable consumer on a stream that does not exist yet only fails and logs, twice a
second, until that stream's service first starts; so each source waits for its stream
(quietly) and the others do not wait for it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from kernel.bus import stream_name
from kernel.projection import ProjectionRunner

log = logging.getLogger(__name__)

Worker = Callable[[asyncio.Event], Awaitable[None]]


async def missing_streams(js: JetStreamContext, services: Iterable[str]) -> list[str]:
    """The services among `services` whose event stream does not exist yet."""
    missing = []
    for service in services:
        try:
            await js.stream_info(stream_name(service))
        except NotFoundError:
            missing.append(service)
    return missing


def once_streams_exist(js: JetStreamContext, services: Iterable[str], worker: Worker,
                       poll: float = 1.0) -> Worker:
    """Run `worker` once every stream of `services` is there."""
    wanted = list(services)

    async def run(stop: asyncio.Event) -> None:
        missing = await missing_streams(js, wanted)
        if missing:
            log.info("waiting for streams %s", ", ".join(map(stream_name, missing)))
        while missing and not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll)
            missing = await missing_streams(js, wanted)
        if not stop.is_set():
            await worker(stop)

    return run


def projection_worker(runner: ProjectionRunner) -> Worker:
    """`runner.run`, with each source stream's consumer started once that stream exists."""

    async def run(stop: asyncio.Event) -> None:
        await runner.create_view()
        await asyncio.gather(*(once_streams_exist(runner.js, [c.service], c.run)(stop)
                               for c in runner.consumers()))

    return run
