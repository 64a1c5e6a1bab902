"""The media store: message media (sent and received) kept by the SHA-256 of its bytes, so
the same file is stored once however often it is sent. One interface, two places:
files under `<var_dir>/media` (the embedded stack's default) or an S3-compatible bucket
(kernel/media_s3.py); `media_store(settings)` (kernel/media_store.py) is the one factory
every process uses.

A stored object is its bytes and its MIME type; its `MediaRef` (hash, size, type) is what
events and messages carry. Retention: `prune(older_than)` removes what was last stored
before then (`SWITCHBOARD_MEDIA_RETENTION_DAYS`)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import mimetypes
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from kernel.clock import utcnow
from kernel.errors import InvalidRequestError, UnavailableError
from kernel.waits import waited

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)
SHA256 = re.compile(r"[0-9a-f]{64}")
DEFAULT_MIME = "application/octet-stream"


class MediaNotFoundError(LookupError):
    """No stored media has this hash."""


class MediaStoreError(UnavailableError):
    """The store could not be reached or answered with an error (it may pass): 503
    SERVICE_UNAVAILABLE at the edge, a passing failure for the dispatcher."""


# What WhatsApp takes, per kind of media message: the MIME types and the largest file
# (Meta's Cloud API, "Supported media types"; the same figures bind every transport, so a
# message refused on one is refused on all). A media message's caption: 1024 characters.
MB = 1024 * 1024
MEDIA_KINDS: dict[str, tuple[frozenset[str], int]] = {
    "image": (frozenset({"image/jpeg", "image/png"}), 5 * MB),
    "video": (frozenset({"video/mp4", "video/3gpp"}), 16 * MB),
    "audio": (frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}),
              16 * MB),
    "document": (frozenset({
        "text/plain", "application/pdf", "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation"}),
        100 * MB),
}
MAX_MEDIA_BYTES = max(limit for _, limit in MEDIA_KINDS.values())
MAX_CAPTION_CHARS = 1024


class UnsupportedMediaTypeError(InvalidRequestError):
    code = "UNSUPPORTED_MEDIA_TYPE"


class MediaTooLargeError(InvalidRequestError):
    code = "MEDIA_TOO_LARGE"


async def accept(store: MediaStore, content: bytes, mime_type: str,
                 server_cap: int) -> tuple[MediaRef, str]:
    """A file for a media message, checked (its type and size, as WhatsApp takes them)
    and stored; its reference and kind."""
    kind = media_kind(mime_type)
    check_size(kind, len(content), server_cap)
    return await store.put(content, base_mime(mime_type)), kind


def guess_mime(declared: str, name: str) -> str:
    """A file's MIME type: the one declared (a Content-Type), unless it names none or only
    application/octet-stream; then the one its name's extension stands for."""
    mime = base_mime(declared)
    if mime and mime != DEFAULT_MIME:
        return mime
    return mimetypes.guess_type(name)[0] or mime


def base_mime(mime_type: str) -> str:
    """`Image/JPEG; charset=x` -> `image/jpeg`."""
    return mime_type.split(";", 1)[0].strip().lower()


def media_kind(mime_type: str) -> str:
    """image, video, audio or document for a MIME type WhatsApp takes, else
    UnsupportedMediaTypeError."""
    mime = base_mime(mime_type)
    for kind, (types, _) in MEDIA_KINDS.items():
        if mime in types:
            return kind
    raise UnsupportedMediaTypeError(
        f"Media type {mime or '(none)'!r} is not one WhatsApp takes: images "
        "image/jpeg, image/png; video video/mp4, video/3gpp; audio audio/aac, audio/amr, "
        "audio/mpeg, audio/mp4, audio/ogg; documents text/plain, PDF and Microsoft Office "
        "files (docs/api.md, \"Sending media\")", mime_type=mime)


def size_limit(kind: str, server_cap: int) -> int:
    return min(MEDIA_KINDS[kind][1], server_cap)


def check_size(kind: str, size: int, server_cap: int) -> None:
    """MediaTooLargeError when a `kind` file of `size` bytes is over WhatsApp's limit for
    its kind or the server's own cap (`SWITCHBOARD_MEDIA_MAX_BYTES`)."""
    limit = size_limit(kind, server_cap)
    if size > limit:
        raise MediaTooLargeError(
            f"The {kind} is {size} bytes; at most {limit} bytes ({limit / MB:g} MB) are "
            "taken for it", size=size, max_size=limit)
    if size == 0:
        raise InvalidRequestError("The media file is empty")


@dataclass(frozen=True)
class MediaRef:
    sha256: str
    size: int
    mime_type: str


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def checked_hash(sha256: str) -> str:
    """A hash as stores name objects: 64 lowercase hex digits, else MediaNotFoundError
    (so no path or key is ever built from anything else)."""
    if not SHA256.fullmatch(sha256):
        raise MediaNotFoundError(sha256)
    return sha256


class MediaStore(Protocol):
    async def put(self, content: bytes, mime_type: str) -> MediaRef:
        """Stores the bytes (once per hash; storing again renews their age)."""

    async def get(self, sha256: str) -> bytes:
        """The stored bytes; MediaNotFoundError when there are none."""

    async def head(self, sha256: str) -> MediaRef | None:
        """The stored object's reference, or None."""

    async def exists(self, sha256: str) -> bool: ...

    async def prune(self, older_than: datetime) -> int:
        """Removes what was last stored before `older_than`; how many objects went."""


@dataclass(frozen=True)
class LocalMediaStore:
    """`<root>/<aa>/<sha256>` holds the bytes and `<sha256>.type` the MIME type; each is
    written to a temporary file and renamed, so a reader never sees half a file."""

    root: Path

    def _path(self, sha256: str) -> Path:
        sha256 = checked_hash(sha256)
        return self.root / sha256[:2] / sha256

    async def put(self, content: bytes, mime_type: str) -> MediaRef:
        ref = MediaRef(digest(content), len(content), mime_type or DEFAULT_MIME)
        await asyncio.to_thread(self._write, ref, content)
        return ref

    def _write(self, ref: MediaRef, content: bytes) -> None:
        path = self._path(ref.sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path.with_suffix(".type"), ref.mime_type.encode())
        if path.exists():
            os.utime(path)
            return
        _write_atomic(path, content)

    async def get(self, sha256: str) -> bytes:
        try:
            return await asyncio.to_thread(self._path(sha256).read_bytes)
        except FileNotFoundError as exc:
            raise MediaNotFoundError(sha256) from exc

    async def head(self, sha256: str) -> MediaRef | None:
        return await asyncio.to_thread(self._head, sha256)

    def _head(self, sha256: str) -> MediaRef | None:
        path = self._path(sha256)
        try:
            size = path.stat().st_size
            mime = path.with_suffix(".type").read_text()
        except FileNotFoundError:
            return None
        return MediaRef(sha256, size, mime)

    async def exists(self, sha256: str) -> bool:
        return await self.head(sha256) is not None

    async def prune(self, older_than: datetime) -> int:
        return await asyncio.to_thread(self._prune, older_than.timestamp())

    def _prune(self, cutoff: float) -> int:
        removed = 0
        for path in self.root.glob("??/*"):
            if SHA256.fullmatch(path.name) and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                path.with_suffix(".type").unlink(missing_ok=True)
                removed += 1
        return removed


def _write_atomic(path: Path, content: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Retention:
    """The retention worker: prunes what was last stored more than `days` days ago, at
    start and then every `every` seconds; `days` 0 keeps everything."""

    store: MediaStore
    days: int
    every: float = 86_400.0
    clock: Callable[[], datetime] = utcnow

    async def run(self, stop: asyncio.Event) -> None:
        if not self.days:
            await stop.wait()
            return
        while not stop.is_set():
            removed = await self.store.prune(self.clock() - timedelta(days=self.days))
            if removed:
                log.info("media retention: %d file(s) older than %d days removed", removed,
                         self.days)
            await waited(stop, seconds=self.every)

