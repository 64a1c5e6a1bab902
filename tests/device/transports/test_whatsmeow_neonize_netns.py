"""The whatsmeow transport on the REAL neonize wheel (0.5.2), each scenario in its own
process inside a network namespace (neonize_scenarios.py), so nothing leaves the machine.

What is observable without WhatsApp: the finalizer and the ownership of a device id, how
a failed dial is classed, the session store check before a connect, and the threads
neonize runs on. "hanging" points web.whatsapp.com at a silent listener of the scenario
itself (a mount namespace with its own /etc/hosts), so that dials hang as a session
still connecting does; "offline" has no network at all, so dials fail at once.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from tests.support import postgres

pytest.importorskip("neonize", reason="the whatsmeow extra (neonize) is not installed here")

SCENARIOS = Path(__file__).with_name("neonize_scenarios.py")
ROOT = Path(__file__).parents[3]
HANGING = ('printf "127.0.0.1 localhost\\n127.0.0.1 web.whatsapp.com\\n" > "$2/hosts" && '
           'mount --bind "$2/hosts" /etc/hosts && ip link set lo up && '
           'exec "$0" "$3" "$1" "$2"')


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = subprocess.run(["unshare", "-rnm", "true"], capture_output=True)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(not _namespaces_work(),
                                reason="unshare -rnm (user and network namespaces) is not "
                                       "available here: the real wheel is run only offline")


def run(scenario: str, work: Path, mode: str, **env: str) -> tuple[int, dict, str]:
    if mode == "hanging":
        command = ["unshare", "-rnm", "sh", "-c", HANGING, sys.executable, scenario, str(work),
                   str(SCENARIOS)]
    else:
        command = ["unshare", "-rn", sys.executable, str(SCENARIOS), scenario, str(work)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env})  # this tree's code
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return done.returncode, json.loads(lines[-1]) if lines else {}, done.stderr[-3000:]


def test_the_hazard_is_real_two_clients_of_one_id_and_a_collected_one(tmp_path):
    code, seen, _ = run("hazard", tmp_path, "hanging")
    assert seen == {"send": "client is nil"}
    assert code in (-6, 134)  # SIGABRT: get_me aborts the whole process


def test_reopening_a_device_keeps_the_new_session_alive(tmp_path):
    code, seen, err = run("reopen", tmp_path, "hanging")
    assert code == 0, err
    assert seen["old_gone"]  # the first client was collected, its finalizer detached
    assert seen["connecting"] and seen["send"] != "client is nil"
    assert seen["send"] == "the store doesn't contain a device JID" and seen["me"] == ""
    assert seen["first"] == ["device dev-1: no QR code from WhatsApp in time"]


def test_an_offline_connect_is_retried_not_failed(tmp_path):
    code, seen, err = run("offline", tmp_path, "offline")
    assert code == 0, err
    kind, status, reason = seen["pairing"]
    assert (kind, status) == ("WhatsmeowUnavailableError", "SERVICE_UNAVAILABLE")
    assert "WhatsApp unreachable: failed to dial whatsapp web websocket" in reason
    assert seen["attempts"] == [False, False, False] and seen["gave_up"] == [3]
    assert seen["dial_failures"] == 3  # each attempt reached whatsmeow's dial
    # not failed: each attempt only reports why it could not reach WhatsApp; threads given back
    assert [event.split(": ")[0] for event in seen["events"]] == ["Trouble"] * 3
    assert all("WhatsApp unreachable: failed to dial" in event for event in seen["events"])
    assert seen["threads"] == 0


def test_a_missing_session_gives_needs_a_new_link_without_aborting(tmp_path):
    code, seen, err = run("lost_store", tmp_path, "offline")
    assert code == 0, err
    assert seen == {"resumed": False, "jid": None, "events": [
        "Unlinked: the whatsmeow session store has lost this device's session: it needs a "
        "new link"]}


@pytest.fixture
def postgres_store():
    """A PostgreSQL server of the test's own, reached through its Unix socket: the only
    way in from a network namespace without network."""
    try:
        pg_server = postgres.LocalServer()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    try:
        pg_server.start()
        os.chmod(pg_server.root, 0o755)  # the namespace's root is not the host's root

        async def create() -> None:
            conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{pg_server.port}/"
                                         "postgres")
            await conn.execute("CREATE DATABASE whatsmeow")
            await conn.close()

        asyncio.run(create())
        yield (f"postgres://postgres@/whatsmeow?host={pg_server.root}&port={pg_server.port}"
               "&sslmode=disable")
    finally:
        pg_server.remove()


def test_a_postgres_store_without_the_session_aborts_neonize(tmp_path, postgres_store):
    code, seen, err = run("postgres_hazard", tmp_path, "offline",
                          WHATSMEOW_DATABASE_URL=postgres_store)
    assert code in (-6, 134) and seen == {}  # whatsmeow.NewClient(nil): SIGSEGV
    assert "nil pointer dereference" in err


def test_a_missing_postgres_session_row_gives_needs_a_new_link(tmp_path, postgres_store):
    code, seen, err = run("postgres_lost_store", tmp_path, "offline",
                          WHATSMEOW_DATABASE_URL=postgres_store)
    assert code == 0, err
    assert seen == {"resumed": False, "jid": None, "clients": 0, "events": [
        "Unlinked: the whatsmeow session store has lost this device's session: it needs a "
        "new link"]}


def test_neonize_alone_starves_the_default_executor(tmp_path):
    code, seen, err = run("starved", tmp_path, "hanging")
    assert (code, seen) == (0, {"starved": True}), err


def test_pairings_and_sessions_hold_their_own_bounded_threads(tmp_path):
    code, seen, err = run("threads", tmp_path, "hanging")
    assert code == 0, err
    # starved, they would wait for whatsmeow's 10 s TLS handshake timeout (see above)
    assert seen["quick"] < 4.0, seen
    assert seen["sends"] == ["the store doesn't contain a device JID"] * 6, seen
    assert seen["refused"] == ("all 6 whatsmeow session threads are in use "
                               "(SWITCHBOARD_WHATSMEOW_MAX_SESSIONS)"), seen
    assert seen["outcomes"] == [f"device dev-{n}: no QR code from WhatsApp in time"
                                for n in range(6)], seen
    assert seen["live_after"] == 0 and seen["session_threads"] == ["neonize-session"], seen


def test_sessions_starting_and_stopping_together_take_turns_at_goneonizes_maps(tmp_path):
    # 60 rounds of 32 pairings at once, each stopped as its dial fails, with sends looking
    # up the clients of the round before: out of turn, Go aborts the process (`concurrent
    # map writes`, `concurrent map read and map write`) in most runs
    code, seen, err = run("crowd", tmp_path, "offline")
    assert code == 0, err
    assert seen["rounds"] == [32] * 60  # every start reached whatsmeow's dial
    assert set(seen["sends"]) <= {"client is nil", "the store doesn't contain a device JID"}
    assert seen["live_after"] == 0
