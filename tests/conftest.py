"""Fixtures for the real parts: nats-server from the wheel, SQLite and PostgreSQL stores."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from launcher import natsserver
from tests.support import postgres

BACKENDS = ["sqlite", "postgres"]


def pytest_configure(config: pytest.Config) -> None:
    """Each xdist worker picks its ports from a part of the range of its own: two workers
    walking one range could pick the same port, the second finding it bound by the time
    its server starts (a nats-server exited "address already in use" once in 2,158)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # gw0, gw1, ...
    if worker:
        count = int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
        low, high = natsserver.PICKED_PORTS
        size = (high - low + 1) // count
        start = low + int(worker.removeprefix("gw")) * size
        natsserver.pick_ports_from(start, start + size - 1)


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = natsserver.free_port()
    store = tmp_path_factory.mktemp("nats")
    proc = natsserver.start(port, store, store / "nats.log")
    yield f"nats://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def fresh_nats_url(tmp_path: Path) -> Iterator[str]:
    """A nats-server of the test's own, for services using their production durable names."""
    port = natsserver.free_port()
    proc = natsserver.start(port, tmp_path / "nats", tmp_path / "nats.log")
    yield f"nats://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    try:
        with postgres.server() as url:
            yield url
    except Exception as exc:  # pragma: no cover - depends on the machine
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL unavailable here: {exc}")


async def _fresh_postgres_database(admin_url: str) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database on each backend: the same test runs on both."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    else:
        admin_url = request.getfixturevalue("postgres_admin_url")
        yield await _fresh_postgres_database(admin_url)


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]
