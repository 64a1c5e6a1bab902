"""Prometheus metrics of the gateway: GET /metrics, and HTTP requests and latencies by
route template and status (recorded by `HttpMetrics`, the app's outermost middleware).

Where /metrics is served is `SWITCHBOARD_GATEWAY_METRICS_PORT`: unset, on the public port
(the Ingress publishes /api only, so inside the cluster alone); a port, there only; 0, off.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from starlette.types import Message, Receive, Scope, Send

from gateway.asgi import HttpMiddleware
from gateway.settings import GatewaySettings
from kernel.metrics import LATENCY_BUCKETS

# not collected with the API's routers: create_app adds it when /metrics is public
metrics_router = APIRouter(tags=["operations"])

HTTP_REQUESTS = Counter("switchboard_http_requests",
                        "HTTP requests answered by the gateway, by method, route and status",
                        ["method", "route", "status"])
HTTP_LATENCY = Histogram("switchboard_http_request_duration_seconds",
                         "Time to answer an HTTP request, by method and route",
                         ["method", "route"], buckets=LATENCY_BUCKETS)
UNMATCHED = "<unmatched>"


@metrics_router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def on_public_port(settings: GatewaySettings) -> bool:
    return settings.gateway_metrics_port is None


def serve_on_own_port(settings: GatewaySettings) -> None:
    """A listener of its own for /metrics (a thread of this process), when one is set."""
    if settings.gateway_metrics_port:
        start_http_server(settings.gateway_metrics_port, settings.host)


class HttpMetrics(HttpMiddleware):
    """Each request counted under its route template (never the raw path:
    ids would make every message a series of its own) and the status it got, 500 if it
    raised first, and timed to the start of its response (a stream's length is not its
    latency)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started, status = time.perf_counter(), 0

        async def recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start" and not status:
                status = message["status"]
                _record(scope, status, started)
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            if not status:
                _record(scope, 500, started)


def _record(scope: Scope, status: int, started: float) -> None:
    route = str(getattr(scope.get("route"), "path", UNMATCHED))
    HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
    HTTP_LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)
