"""A real PostgreSQL for the tests: testcontainers where Docker runs, else a local server
from the OS package, started in a temp dir (as the postgres user when running as root)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from launcher.natsserver import free_port, wait_for_port


def _docker_works() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _pg_bin() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@contextmanager
def local_server() -> Iterator[str]:
    bindir = _pg_bin()
    if bindir is None:
        raise RuntimeError("no PostgreSQL server binaries (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="sb-pg-"))
    data = root / "data"
    port = free_port()
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_postgres, str(bindir / "initdb"), "-A", "trust", "-U", "postgres",
                    "-D", str(data)], check=True, capture_output=True)
    options = f"-p {port} -k {root} -c fsync=off -c max_connections=300"
    subprocess.run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-o", options,
                    "-l", str(root / "log"), "-w", "start"], check=True, capture_output=True)
    wait_for_port("127.0.0.1", port, timeout=20)
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m",
                        "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def container_server() -> Iterator[str]:
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16-alpine", driver="asyncpg") as pg:
        yield pg.get_connection_url()


@contextmanager
def server() -> Iterator[str]:
    """The admin URL of a PostgreSQL server that lives for the block."""
    if os.environ.get("SWITCHBOARD_TEST_POSTGRES_URL"):
        yield os.environ["SWITCHBOARD_TEST_POSTGRES_URL"]
    elif _docker_works():
        with container_server() as url:
            yield url
    else:
        with local_server() as url:
            yield url
