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


class LocalServer:
    """A PostgreSQL server of the test's own, in a temp dir, that can be stopped and
    started again on the same port and data directory (a database outage, then recovery)."""

    def __init__(self) -> None:
        bindir = _pg_bin()
        if bindir is None:
            raise RuntimeError("no PostgreSQL server binaries (apt-get install postgresql)")
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="sb-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._as_postgres: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self._as_postgres = ["runuser", "-u", "postgres", "--"]
        self._pg("initdb", "-A", "trust", "-U", "postgres", "-N", "-D", str(self.data))

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c fsync=off -c max_connections=300"
        self._pg("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
                 "-w", "start")
        wait_for_port("127.0.0.1", self.port, timeout=20)

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session at once, as a crashed or restarted server would."""
        self._pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        subprocess.run([*self._as_postgres, str(self.bindir / "pg_ctl"), "-D", str(self.data),
                        "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def _pg(self, program: str, *args: str) -> None:
        subprocess.run([*self._as_postgres, str(self.bindir / program), *args], check=True,
                       capture_output=True)


@contextmanager
def local_server() -> Iterator[str]:
    with restartable_server() as pg:
        yield pg.url


@contextmanager
def restartable_server() -> Iterator[LocalServer]:
    """A started local server that the block may stop and start again."""
    pg = LocalServer()
    try:
        pg.start()
        yield pg
    finally:
        pg.remove()


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
