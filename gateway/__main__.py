"""Run the gateway: `python -m gateway`."""

from __future__ import annotations

import uvicorn

from gateway.app import create_app
from gateway.httpparser import EnvelopedHttpTools
from gateway.routes import metrics
from gateway.settings import GatewaySettings
from kernel import collector, logs


def main() -> None:
    settings = GatewaySettings()
    logs.configure("gateway", settings.log_level)
    metrics.serve_on_own_port(settings)
    server = uvicorn.Server(server_config(settings))
    collector.settle_after_start()
    server.run()


def server_config(settings: GatewaySettings, port: int | None = None) -> uvicorn.Config:
    """The gateway's HTTP server. Proxy headers are read by gateway/deps.py
    (`client_address`, from `trusted_proxies` only), never by uvicorn, which would
    believe any X-Forwarded-For sent from 127.0.0.1. Requests are parsed by httptools
    (C) rather than h11 (Python): h11 cost the all-in-one process 0.25 ms of its 1.75 a
    single send (docs/performance.md, "Twelfth wave"); gateway/httpparser.py."""
    return uvicorn.Config(create_app(settings), http=EnvelopedHttpTools, host=settings.host,
                          port=settings.gateway_port if port is None else port,
                          log_config=None, access_log=False, server_header=False,
                          proxy_headers=False)


if __name__ == "__main__":
    main()
