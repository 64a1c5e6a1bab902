"""Fetching a send's media from its URL, at accept time: through the webhooks' guarded
client (adapters/webhook_transport.py: public addresses only, the connection pinned to the
vetted address, no redirects, no proxies from the environment), within one time limit,
read no further than the limit for the file's kind, then stored in the media store."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import PurePosixPath

import httpx

from kernel.errors import DomainError
from kernel.media import (
    MediaStore,
    MediaTooLargeError,
    accept,
    guess_mime,
    media_kind,
    size_limit,
)
from services.messaging.adapters.webhook_guard import RefusedTargetError, parse_target
from services.messaging.adapters.webhook_post import coarse
from services.messaging.domain.errors import MediaFetchFailedError, MediaUrlRefusedError
from services.messaging.domain.events import Media
from services.messaging.domain.webhook import InvalidWebhookError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MediaFetcher:
    client: httpx.AsyncClient  # delivery_client(guard, ...): the guarded one
    store: MediaStore
    max_bytes: int  # the server's cap (SWITCHBOARD_MEDIA_MAX_BYTES)
    timeout: float

    async def fetch(self, url: str, filename: str) -> Media:
        """The file at `url`, stored; MEDIA_URL_REFUSED, MEDIA_FETCH_FAILED,
        UNSUPPORTED_MEDIA_TYPE or MEDIA_TOO_LARGE (INVALID_REQUEST for a bad URL)."""
        try:
            parse_target(url)
        except InvalidWebhookError as exc:
            raise InvalidWebhookError(f"Invalid media URL: {exc.message}") from exc
        try:
            async with asyncio.timeout(self.timeout):
                content, mime = await self._download(url)
        except RefusedTargetError as exc:
            raise MediaUrlRefusedError() from exc
        except DomainError:
            raise
        except Exception as exc:  # noqa: BLE001 - a coarse reason out, details to the log
            log.info("media fetch from %s failed: %s: %s", url, type(exc).__name__, exc)
            raise MediaFetchFailedError(coarse(exc)) from exc
        ref, kind = await accept(self.store, content, mime, self.max_bytes)
        return Media(ref.sha256, ref.mime_type, ref.size, filename or _name(url), kind)

    async def _download(self, url: str) -> tuple[bytes, str]:
        async with self.client.stream("GET", url) as answer:
            if answer.status_code != 200:
                raise MediaFetchFailedError(
                    f"HTTP {answer.status_code}" + (" (redirects are not followed)"
                                                    if answer.is_redirect else ""))
            mime = guess_mime(answer.headers.get("content-type", ""), _name(url))
            limit = size_limit(media_kind(mime), self.max_bytes)
            chunks, seen = [], 0
            async for chunk in answer.aiter_bytes():
                seen += len(chunk)
                if seen > limit:
                    raise MediaTooLargeError(
                        f"The file at the media URL is over {limit} bytes, the most taken "
                        f"for a {media_kind(mime)}", max_size=limit)
                chunks.append(chunk)
        return b"".join(chunks), mime


def _name(url: str) -> str:
    return PurePosixPath(httpx.URL(url).path).name[:255]
