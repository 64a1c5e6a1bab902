"""The gateway application: both REST APIs, one OpenAPI document, one error table."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request, Response

from gateway import errors, openapi
from gateway.bodylimit import BodyLimit
from gateway.clients import Clients
from gateway.routes import api, metrics
from gateway.text import plain_parameters
from kernel import context
from kernel.config import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings, clients: Clients | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.clients = clients or Clients.connect(settings)
        yield
        await app.state.clients.close()

    app = FastAPI(title="Switchboard", version="0.1.0", lifespan=lifespan,
                  description="Self-hosted WhatsApp messaging gateway: the Messaging API "
                              "(/api, JWT) and the Instance API (/api/v1/whatsapp, key pair).",
                  **docs_urls(settings))
    app.state.settings = settings
    errors.install(app)
    app.include_router(api, dependencies=[Depends(plain_parameters)])
    if metrics.on_public_port(settings):
        app.include_router(metrics.metrics_router)
    openapi.install(app)
    # innermost of the middlewares: its refusals get the correlation id and are counted
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes,
                       max_depth=settings.max_json_depth)

    @app.middleware("http")
    async def edge(request: Request, call_next: Callable[[Request], Awaitable[Response]]
                   ) -> Response:
        context.begin(request.headers.get("x-correlation-id", ""))
        response = await call_next(request)
        response.headers["X-Correlation-Id"] = context.current().correlation_id
        return response

    # operations: HTTP counts and latencies; added last, so it is outermost and sees all
    app.middleware("http")(metrics.record)
    return app


def docs_urls(settings: Settings) -> dict[str, Any]:
    """FastAPI's defaults, or none of /docs, /redoc and /openapi.json."""
    if settings.api_docs:
        return {}
    return {"docs_url": None, "redoc_url": None, "openapi_url": None}
