"""Which event streams exist yet: a rebuild skips a source stream no service has created
(a live subscription waits for it instead, in the kernel's host)."""

from __future__ import annotations

from collections.abc import Iterable

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from kernel.bus import stream_name


async def missing_streams(js: JetStreamContext, services: Iterable[str]) -> list[str]:
    """The services among `services` whose event stream does not exist yet."""
    missing = []
    for service in services:
        try:
            await js.stream_info(stream_name(service))
        except NotFoundError:
            missing.append(service)
    return missing
