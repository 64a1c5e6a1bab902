"""Run the gateway: `python -m gateway`."""

from __future__ import annotations

import uvicorn

from gateway.app import create_app
from kernel import logs
from kernel.config import Settings


def main() -> None:
    settings = Settings()
    logs.configure("gateway", settings.log_level)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.gateway_port,
                log_config=None, access_log=False, server_header=False)


if __name__ == "__main__":
    main()
