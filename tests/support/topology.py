"""The system's topology from what each service's bootstrap declares: every service
built (not started) on its own SQLite store against a real nats-server, its subscriptions
collected. `python -m tests.support.topology` prints the table docs/architecture.md shows.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from kernel.config import SERVICES
from kernel.host import open_infra
from kernel.subscriptions import EventSubscription, topology
from launcher import natsserver
from launcher.settings import StackSettings
from tests.support.services import _build

# Every subscription a configuration can have: sign-up credits add billing's.
TOPOLOGY_SETTINGS = {"signup_credits": 1}


async def declared(nats_url: str, var_dir: Path) -> dict[str, list[EventSubscription]]:
    """Each service's declared subscriptions, by service."""
    out: dict[str, list[EventSubscription]] = {}
    for service in SERVICES:
        settings = StackSettings(nats_url=nats_url, var_dir=var_dir, **TOPOLOGY_SETTINGS)
        infra = await open_infra(service, settings)
        try:
            parts = await _build(service)(infra)
            out[service] = list(parts.subscriptions)
            for hook in parts.on_stop:
                await hook()
        finally:
            await infra.nc.close()
            await infra.engine.dispose()
    return out


async def table(nats_url: str, var_dir: Path) -> str:
    return topology(await declared(nats_url, var_dir))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        port = natsserver.free_port()
        proc = natsserver.start(port, Path(tmp) / "nats", Path(tmp) / "nats.log")
        try:
            print(asyncio.run(table(f"nats://127.0.0.1:{port}", Path(tmp))), end="")
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
