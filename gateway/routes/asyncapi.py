"""GET /asyncapi.json: the event bus's AsyncAPI document (gateway/asyncapi.py), beside
/openapi.json and, like it, absent (404) with SWITCHBOARD_API_DOCS=false."""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request

from gateway import asyncapi
from gateway.errors import ApiError
from gateway.leanroute import api_router

router = api_router(tags=["events"])


@lru_cache(maxsize=4)
def _document(server: str) -> dict[str, Any]:
    return asyncapi.document(server=server)


@router.get("/asyncapi.json", include_in_schema=False)
async def asyncapi_document(request: Request) -> dict[str, Any]:
    """The bus's subjects, payloads and guarantees, generated from proto/; its server is
    the NATS this gateway uses (host and port only, never credentials)."""
    settings = request.app.state.settings
    if not settings.api_docs:
        raise ApiError("NOT_FOUND", "Not Found")
    url = urlsplit(settings.nats_url)
    return _document(f"{url.hostname}:{url.port or 4222}")
