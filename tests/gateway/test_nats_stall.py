"""NATS stalls (the real nats-server stopped with SIGSTOP: connections stay open, nothing
answers) under the real gateway and the four real services, on both stores: the login
throttle fails closed (a locked account is not let in; sign-in answers 503 meanwhile) and
the rate limits count in-process, so they still limit."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher import natsserver
from tests.auth.gateway_support import PASSWORD, api_stack, error_of

WINDOW = 3600


@pytest.fixture
def nats_process(tmp_path: Path) -> Iterator[tuple[str, int]]:
    port = natsserver.free_port()
    proc = natsserver.start(port, tmp_path / "nats", tmp_path / "nats.log")
    yield f"nats://127.0.0.1:{port}", proc.pid
    os.kill(proc.pid, signal.SIGCONT)
    proc.terminate()
    proc.wait(10)


def stall(pid: int) -> None:
    """SIGSTOP the server and wait until every thread of it has stopped: kill() returns
    before they do, and a thread already running answered the next request (the login
    throttle's read, 3 ms later) in 3 of 26 runs on a loaded machine."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 5
    while not all(_stopped(pid, task) for task in os.listdir(f"/proc/{pid}/task")):
        assert time.monotonic() < deadline, "nats-server did not stop"
        time.sleep(0.001)


def _stopped(pid: int, task: str) -> bool:
    try:
        with open(f"/proc/{pid}/task/{task}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] == "T"
    except FileNotFoundError:  # the thread ended
        return True


async def test_a_stalled_nats_neither_lets_a_locked_account_in_nor_lifts_limits(
        database_url, nats_process, tmp_path):
    nats_url, pid = nats_process
    async with api_stack(database_url, nats_url, tmp_path, rate_limit_status=3,
                         rate_limit_window_seconds=WINDOW) as api:
        await api.register("locked")
        for _ in range(5):
            wrong = await api.http.post("/api/auth/login", json={"username": "locked",
                                                                 "password": "not-it-at-all"})
            assert error_of(wrong) == (401, "UNAUTHORIZED")
        right = {"username": "locked", "password": PASSWORD}
        assert error_of(await api.http.post("/api/auth/login", json=right)) == \
            (429, "RATE_LIMITED")
        _, reader = await api.user("reader")
        first = await api.http.get("/api/users/user/credits", headers=reader)
        assert first.status_code == 200
        stall(pid)
        try:
            started = time.monotonic()
            stalled = await api.http.post("/api/auth/login", json=right)
            assert error_of(stalled) == (503, "SERVICE_UNAVAILABLE")
            assert time.monotonic() - started < 5
            reads = [await api.http.get("/api/users/user/credits", headers=reader)
                     for _ in range(4)]
            assert [r.status_code for r in reads] == [200, 200, 429, 429]
            assert error_of(reads[-1]) == (429, "RATE_LIMITED")
        finally:
            os.kill(pid, signal.SIGCONT)
