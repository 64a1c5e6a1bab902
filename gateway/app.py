"""The gateway application: both REST APIs, one OpenAPI document, one error table."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from gateway import apidocs, errors, openapi
from gateway.bodylimit import BodyLimit
from gateway.clients import Clients
from gateway.correlation import Correlation
from gateway.foreground import BulkForeground
from gateway.media import media_body_limits
from gateway.routes import ROUTING_ORDER, metrics
from gateway.settings import GatewaySettings
from kernel.media_store import media_store

log = logging.getLogger(__name__)


def create_app(settings: GatewaySettings, clients: Clients | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.clients = clients or Clients.connect(settings)
        yield
        await app.state.clients.close()

    app = FastAPI(title="Switchboard", version="0.1.0", lifespan=lifespan,
                  description="Self-hosted WhatsApp messaging gateway: the Messaging API "
                              "(/api, JWT) and the Instance API (/api/v1/whatsapp, key pair).",
                  telemetry=NO_TELEMETRY, **docs_urls(settings))
    app.state.settings = settings
    app.state.media = media_store(settings)  # send-media's uploads (gateway/media.py)
    errors.install(app)
    for router in ROUTING_ORDER:  # each on the app itself: every level of nesting is walked
        app.include_router(router)
    if metrics.on_public_port(settings):
        app.include_router(metrics.metrics_router)
    openapi.install(app)
    if app.openapi_url:
        apidocs.install(app, app.openapi_url)
    # pure ASGI middleware, last added outermost: metrics see everything, and BodyLimit's
    # refusals get the correlation id and are counted
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes,
                       max_depth=settings.max_json_depth,
                       larger=media_body_limits(settings.media_max_bytes))
    app.add_middleware(BulkForeground)
    app.add_middleware(Correlation)
    app.add_middleware(metrics.HttpMetrics)
    return app


# FastAPI's own OpenTelemetry spans, metrics and logs, off: the gateway's metrics are
# Prometheus's (gateway/routes/metrics.py), and FastAPI asked whether an OpenTelemetry
# provider was set up on every request, ≈ 7 % of the gateway's CPU per send.
NO_TELEMETRY: Any = {"tracing": False, "metrics": False, "logs": False,
                     "operation_spans": False, "auto_configure": False}


def docs_urls(settings: GatewaySettings) -> dict[str, Any]:
    """/openapi.json, or none of it, /docs and /redoc (those two are gateway/apidocs.py's,
    from local assets, never FastAPI's CDN pages)."""
    off: dict[str, Any] = {"docs_url": None, "redoc_url": None}
    return off if settings.api_docs else {**off, "openapi_url": None}
