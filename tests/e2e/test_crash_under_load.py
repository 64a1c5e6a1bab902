"""kill -9 under load: the stack as `switchboard up` runs it, one child killed with
SIGKILL while sends pour in through the gateway, restarted by the supervisor, the load
carried on. Then, for the load's tenant (a credits user on the Messaging API, bulk and
single sends, and their linked instance on the Instance API, paid from its quota):

- every message the gateway accepted (a 2xx naming its id) reaches a terminal state,
  and with no simulated failures that state is Read;
- each recipient's inbox on the far side (the simulator's SQLite file) holds each
  accepted message exactly once, and holds nothing from a refused request;
- the ledger balances: the credits and quota reserved and not given back are exactly
  the accepted messages (so a refused request charged nothing), every one of them was
  spent, and initial - charged + refunded equals the balance and quota shown now;
- one exception, which no server can avoid: a request cut off (503, or the connection
  dropped) by the death of the messaging process running it may have been queued with
  its answer lost. Its messages are then held to the same rules as accepted ones (sent
  once, paid once, Read) and counted apart; under any other victim, or with any other
  refusal, a refused request that queued anything fails the test;
- the tenant's rows in the history and quota views equal those of a fresh rebuild:
  the events published since the tenant was made, replayed from the streams into an
  empty store, each applied in turn by the projection's own `apply`.

The victims, on a stack of a process per service (`SWITCHBOARD_PROCESSES=split`):
messaging (killed while bulk requests are in flight), billing, device, nats-server, and
the outbox relay; and on a stack of the default all-in-one process, that process (the
four services and the gateway at once). The relay runs inside each service process, so
killing it means killing its process while it has committed events it has not yet
recorded as published: messaging right after a bulk of 200 was accepted, checked by
reading the relay's recorded position against the store's last event once it is dead.
Every kill must land with accepted messages not yet Read (the pipeline mid-flight).

One stack serves every scenario; each has a tenant, recipients and bodies of its own.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import outcomes
from tests.support.load import (
    CREDIT,
    QUOTA,
    Accepted,
    Driver,
    Record,
    Refused,
    Tenant,
    drive,
    new_tenant,
)
from tests.support.stack import Stack, start_stack

pytestmark = pytest.mark.e2e

TARGET = 2000  # messages accepted per scenario, at the least
KILL_AT = 400  # accepted before the kill
AFTER_RESTART = 200  # accepted after the victim is back, at the least
PID_FILES = {"messaging": "messaging", "billing": "billing", "device": "device",
             "nats-server": "nats", "relay": "messaging", "switchboard": "switchboard"}
ADMIN = ("root", "root-password-1")
VICTIMS = [name for name in PID_FILES if name != "switchboard"]  # the split stack's
# Every scenario of a module's stack signs in and registers anew (three sign-in requests
# at least), more than the sign-in limit's 10 a minute when scenarios are quick: limits
# off, as the load is not what they are tested with (tests/gateway/test_ratelimit.py).
SETTINGS = {"admin_user": ADMIN[0], "admin_password": ADMIN[1], "rate_limit_auth": "0",
            "rate_limit_messages": "0",
            "rate_limit_bulk": "0", "rate_limit_status": "0", "rate_limit_other": "0",
            "billing_free_plan_quota": "1000000", "log_level": "WARNING",
            "reservation_note_grace_seconds": "3"}
# Seconds: a batch a killed consumer had fetched but not acknowledged comes back after the
# consumer's ack wait (30 s), and some: the views and the ledger (billing's settlement of
# the messages sent) may lag that long behind the messages' Read.
CATCH_UP = 45.0


def crash_stack(var_dir: Path, processes: str) -> Iterator[Stack]:
    running = start_stack(var_dir, processes=processes, **SETTINGS)
    try:
        running.wait_healthy()
        yield running
    finally:
        assert running.stop() == 0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from crash_stack(tmp_path_factory.mktemp("crash"), "split")


ALL_IN_ONE = ["pair", "single"]  # the default (device apart), and all five together


@pytest.fixture(scope="module", params=ALL_IN_ONE)
def all_in_one_stack(request: pytest.FixtureRequest,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from crash_stack(tmp_path_factory.mktemp(f"crash-{request.param}"), request.param)


class Victim:
    """Kills one child once the load is under way, and sees it replaced."""

    def __init__(self, stack: Stack, name: str, user_id: int) -> None:
        self.stack, self.name, self.pid_file = stack, name, PID_FILES[name]
        self.user_id = user_id
        self.unsettled = 0  # the tenant's messages not yet Read when it died
        self.killed_at: int | None = None  # messages accepted when it died
        self.back_at: int | None = None  # and when its replacement was healthy
        self.relay_behind = 0
        self.old_pid = 0
        self.dead, self.back = asyncio.Event(), asyncio.Event()

    def finished(self, accepted: int) -> bool:
        return self.back_at is not None and accepted >= max(TARGET,
                                                            self.back_at + AFTER_RESTART)

    def on_request(self, path: str, accepted: int) -> None:
        """messaging: killed 10 ms into a bulk request, while it reserves and queues."""
        if self.name == "messaging" and self.killed_at is None and accepted >= KILL_AT \
                and path.endswith("send-bulk-message"):
            self.killed_at = accepted
            asyncio.get_running_loop().call_later(0.01, self._kill)

    def on_accepted(self, accepted: int, batch: int) -> None:
        """The relay: killed the moment a bulk's 200 events are committed. The others:
        as soon as enough is accepted, whatever is in flight."""
        if self.killed_at is not None or accepted < KILL_AT or self.name == "messaging" \
                or (self.name == "relay" and (batch == 1 or not self._relay_behind())):
            return
        self.killed_at = accepted
        self._kill()

    def _relay_behind(self) -> int:
        self.relay_behind = relay_backlog(self.stack.var_dir)
        return self.relay_behind

    def _kill(self) -> None:
        self.old_pid = self.stack.pid(self.pid_file)
        os.kill(self.old_pid, signal.SIGKILL)
        self.dead.set()
        if self.name == "relay":
            self._relay_behind()  # what it had left when it died
        self.unsettled = sum(s not in outcomes.TERMINAL for s in outcomes.statuses(
            self.stack.var_dir, self.user_id).values())

    async def steady(self) -> None:
        """Bulks wait while the victim is down; single sends go on into the outage."""
        if self.dead.is_set():
            await self.back.wait()

    async def restarted(self, driver: Driver) -> None:
        await self.dead.wait()
        await asyncio.to_thread(self._wait_restart)
        self.back_at = len(driver.record.accepted)
        self.back.set()

    def _wait_restart(self) -> None:
        deadline = time.monotonic() + 30
        while self._pid_now() in (self.old_pid, None):
            assert time.monotonic() < deadline, f"{self.name} was not restarted"
            time.sleep(0.05)
        self.stack.wait_healthy(30)

    def _pid_now(self) -> int | None:
        """None while the supervisor is rewriting the pid file."""
        try:
            return self.stack.pid(self.pid_file)
        except ValueError:
            return None


def relay_backlog(var_dir: Path) -> int:
    """Events committed in the messaging store beyond the relay's recorded position."""
    db = sqlite3.connect(f"file:{var_dir / 'messaging.db'}?mode=ro", uri=True, timeout=30)
    try:
        last = db.execute("SELECT MAX(position) FROM events").fetchone()[0]
        done = db.execute("SELECT MAX(position) FROM relay_offsets").fetchone()[0] or 0
    finally:
        db.close()
    return int(last) - int(done)


async def run_load(stack: Stack, victim: Victim, tenant: Tenant, run: str) -> Record:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as api:
        driver = Driver(api, tenant, run, victim)
        record, _ = await asyncio.gather(drive(driver), victim.restarted(driver))
    return record


@pytest.mark.parametrize("name", VICTIMS)
async def test_a_killed_child_loses_duplicates_and_leaks_nothing(stack: Stack, name: str,
                                                                unique: str, tmp_path: Path
                                                                ) -> None:
    await killed_under_load(stack, name, str(VICTIMS.index(name)), unique, tmp_path)


async def test_the_killed_all_in_one_process_loses_duplicates_and_leaks_nothing(
        all_in_one_stack: Stack, unique: str, tmp_path: Path) -> None:
    # its own digit for the recipients' numbers (tests/support/load.py, `recipients`)
    run = str(len(VICTIMS) + ALL_IN_ONE.index(all_in_one_stack.env["SWITCHBOARD_PROCESSES"]))
    await killed_under_load(all_in_one_stack, "switchboard", run, unique, tmp_path)


async def killed_under_load(stack: Stack, name: str, run: str, unique: str,
                            tmp_path: Path) -> None:
    started = time.monotonic()
    tails = await outcomes.stream_tails(stack.nats_url())
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as api:
        admin = (await api.post("/api/auth/login", json={
            "username": ADMIN[0], "password": ADMIN[1]})).json()["access_token"]
        tenant = await new_tenant(api, admin, f"load{unique}", credits=100_000)
    victim = Victim(stack, name, tenant.user_id)
    record = await run_load(stack, victim, tenant, run)
    loaded = time.monotonic()
    accepted = {a.message_id: a for a in record.accepted}
    assert len(accepted) == len(record.accepted) >= TARGET
    assert victim.killed_at is not None and KILL_AT <= victim.killed_at < len(accepted)
    assert victim.unsettled, "the kill landed with nothing in flight"
    if name == "relay":
        assert victim.relay_behind, "the relay had nothing left to publish when killed"

    found = outcomes.settle(stack.var_dir, tenant.user_id, set(accepted), within=120)
    settled = time.monotonic()
    assert {found.get(i) for i in accepted} == {"read"}, _late(found, accepted)
    cut_off = queued_though_refused(stack, name, tenant, record, set(accepted))
    sent = {**accepted, **cut_off}
    # A message queued though its request was cut off by the kill was likely in the
    # killed process's hands: it may come back only after a consumer's ack wait, after
    # every accepted one is Read. It must be Read all the same.
    found = outcomes.settle(stack.var_dir, tenant.user_id, set(sent), within=120)
    assert set(found) == set(sent) and set(found.values()) == {"read"}

    held = outcomes.inboxes(stack.var_dir, f"load {run} ")
    assert held == {(a.number, f"sb-{a.message_id}", a.body): 1 for a in sent.values()}

    returned = await _balanced(stack, tenant, list(sent.values()))

    replayed = outcomes.tenant_rows(await outcomes.replayed_views(
        stack.nats_url(), tails, tmp_path / "replayed.db"), tenant.user_id)
    deadline = time.monotonic() + CATCH_UP
    while True:
        live = outcomes.tenant_rows(await outcomes.live_views(stack.var_dir),
                                    tenant.user_id)
        if live == replayed or time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)
    assert len(live["message_history"]) == len(sent)
    assert live == replayed
    took = outcomes.span(stack.var_dir, tenant.user_id)
    print(f"\n{name}: first queued to last read {took:.1f}s, "
          f"{len(accepted) / took:.0f} messages/s end to end")
    print(f"{name}: {len(accepted)} accepted in {record.requests} requests "
          f"({len(record.refused)} refused, {len(cut_off)} of their messages queued "
          f"all the same, {returned} reservations given back), "
          f"killed at {victim.killed_at} ({victim.unsettled} unsettled), back at "
          f"{victim.back_at}; load {loaded - started:.1f}s, settled "
          f"{settled - loaded:.1f}s, checked {time.monotonic() - settled:.1f}s")


async def _balanced(stack: Stack, tenant: Tenant, accepted: list[Accepted]) -> int:
    """Wait for the ledger to balance; the reservations given back. A reservation a killed
    process stranded is given back by the next one, a few seconds on; a settlement batch
    it had fetched comes back after the ack wait (`CATCH_UP`)."""
    deadline = time.monotonic() + CATCH_UP
    while True:
        try:
            return await _ledger_balances(stack, tenant, accepted)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _ledger_balances(stack: Stack, tenant: Tenant, accepted: list[Accepted]) -> int:
    returned = 0
    for kind, holds, before, after in (
            (CREDIT, outcomes.credit_holds(stack.var_dir, tenant.user_id), tenant.credits,
             await _credits(stack, tenant)),
            (QUOTA, outcomes.quota_holds(stack.var_dir, tenant.instance_id), tenant.quota,
             await _quota_remaining(stack, tenant))):
        paid = {a.message_id for a in accepted if a.kind == kind}
        assert holds.net_charged == paid, f"{kind}: charged for other than the accepted"
        assert max(holds.reserved.values()) == 1 and set(holds.spent) == paid
        assert before - holds.charged_amount + holds.refunded_amount == after == \
            before - len(paid)
        assert kind == QUOTA or holds.granted == before
        returned += len(holds.released)
    return returned


def queued_through_refusal_allowed(name: str, refusal: Refused) -> bool:
    """Only a request cut off by the death of the process running it: the messages may
    have been queued (and charged) with the answer lost. The client cannot tell; the
    stack must then treat them as sent: once, paid once, Read."""
    unanswered = refusal.answer.startswith("503 ") or not refusal.answer[:3].isdigit()
    return name in ("messaging", "relay", "switchboard") and unanswered


def queued_though_refused(stack: Stack, name: str, tenant: Tenant, record: Record,
                          accepted: set[str]) -> dict[str, Accepted]:
    refused = {r.body: r for r in record.refused}
    found: dict[str, Accepted] = {}
    for message_id, (number, body) in outcomes.queued(stack.var_dir,
                                                      tenant.user_id).items():
        if message_id in accepted:
            continue
        refusal = refused.get(body)
        assert refusal is not None, f"{message_id} was never sent by this load"
        assert queued_through_refusal_allowed(name, refusal), (
            f"refused with {refusal.answer!r}, yet {message_id} was queued")
        assert number in refusal.numbers
        found[message_id] = Accepted(message_id, number, body, refusal.kind)
    return found


def _late(found: dict[str, str], accepted: dict) -> dict[str, int]:
    late: dict[str, int] = {}
    for message_id in accepted:
        late[str(found.get(message_id))] = late.get(str(found.get(message_id)), 0) + 1
    return late


async def _credits(stack: Stack, tenant: Tenant) -> int:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as api:
        found = await api.get("/api/users/user/credits",
                              headers={"Authorization": f"Bearer {tenant.token}"})
    assert found.status_code == 200, found.text
    return int(found.json()["credits"])


async def _quota_remaining(stack: Stack, tenant: Tenant) -> int:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as api:
        found = await api.get("/api/v1/whatsapp/quota", params=tenant.keys)
    assert found.status_code == 200, found.text
    return int(found.json()["data"]["messagesRemaining"])
