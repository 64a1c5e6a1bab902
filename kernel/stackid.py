"""The stack id: which stack a NATS server's event streams belong to.

`switchboard up` makes one on first start and keeps it in `<var_dir>/stack-id`; every
process of that var dir reads it, writes it into the metadata of the event stream it
creates, and refuses a stream that carries another stack's id (ForeignStack), so a
stack never mixes its history with another's. A var dir without the file (a Kubernetes
pod) has no id and checks nothing. A stream without one (made before ids existed) is
taken over by the first stack that creates it again.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:  # the launcher and the gateway read the id without loading nats-py
    from nats.js import JetStreamContext

FILE = "stack-id"
METADATA_KEY = "switchboard_stack"
EXIT_CODE = 3  # a process that found another stack's streams stops with it


class ForeignStack(RuntimeError):
    """An event stream that belongs to another stack."""

    def __init__(self, stream: str, found: str, ours: str) -> None:
        super().__init__(f"stream {stream} belongs to stack {found}, not {ours}")
        self.stream, self.found, self.ours = stream, found, ours

    def explain(self, nats_url: str, var_dir: Path) -> str:
        where = _without_password(nats_url)
        return (f"NATS at {where} holds the event streams of stack {self.found} "
                f"({self.stream}), not of this stack, {self.ours} ({var_dir / FILE}); "
                "refusing to mix their histories. Point this stack at its own NATS "
                "(SWITCHBOARD_NATS_PORT for the one `switchboard up` starts, or "
                "SWITCHBOARD_NATS_URL), or run the command with that stack's "
                "SWITCHBOARD_VAR_DIR.")


def read(var_dir: Path) -> str:
    """The id kept in `var_dir`, or "" when it has none."""
    try:
        return (var_dir / FILE).read_text().strip()
    except FileNotFoundError:
        return ""


def ensure(var_dir: Path) -> str:
    """The id kept in `var_dir`, made on first call (12 hex digits, 0600)."""
    if kept := read(var_dir):
        return kept
    try:
        fd = os.open(var_dir / FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read(var_dir)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(6) + "\n")
    return read(var_dir)


def metadata(kept: Mapping[str, str] | None, ours: str, stream: str) -> dict[str, str]:
    """The metadata a stream is created or updated with: what it `kept` (without the
    server's own `_nats.` keys) and our id; ForeignStack when it holds another id."""
    mine = {k: v for k, v in (kept or {}).items() if not k.startswith("_nats.")}
    found = mine.get(METADATA_KEY, "")
    if found and ours and found != ours:
        raise ForeignStack(stream, found, ours)
    if ours:
        mine[METADATA_KEY] = ours
    return mine


async def verify(js: JetStreamContext, ours: str, streams: Iterable[str]) -> None:
    """ForeignStack unless every existing one of `streams` is ours (or carries no id)."""
    from nats.js.errors import NotFoundError

    if not ours:
        return
    for stream in streams:
        try:
            info = await js.stream_info(stream)
        except NotFoundError:
            continue
        metadata(info.config.metadata, ours, stream)


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)
