"""Scenarios for the whatsmeow transport on the REAL neonize wheel, each run by
test_whatsmeow_neonize_netns in its own process inside a network namespace
(`unshare -rn`, or `-rnm` with web.whatsapp.com pointed at 127.0.0.1), so nothing can
leave the machine. Each prints one JSON line with what it saw.

    python neonize_scenarios.py <scenario> <work dir>

In "hanging" mode WhatsApp's address is this process's own silent listener on port 443:
whatsmeow's dial hangs there, so its sessions stay in their connect call — holding a Go
client and a thread — as a session still connecting does. Otherwise the dial fails at
once, as on a machine without network.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import sqlite3
import sys
import time
import weakref
from pathlib import Path
from typing import Any

from neonize.aioze.client import NewAClient
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message
from neonize.utils.jid import build_jid

from kernel.db import create_engine
from services.device.adapters.send_ledger import SendLedger
from services.device.adapters.whatsmeow import WhatsmeowTransport
from services.device.adapters.whatsmeow.events import jid_from_text
from services.device.adapters.whatsmeow.session import Timing
from services.device.adapters.whatsmeow.threads import NeonizeThreads
from services.device.app.reconnect import Backoff, Reconnects

WORK = Path(sys.argv[2])


async def silent_whatsapp() -> asyncio.Server:
    """Accepts the TLS connection and never answers: the dial hangs."""
    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    return await asyncio.start_server(hold, "127.0.0.1", 443)


def ledger() -> SendLedger:
    async def engine():  # noqa: ANN202
        return create_engine(f"sqlite+aiosqlite:///{WORK / 'device.db'}")

    return SendLedger(engine)


def transport(threads: NeonizeThreads | None = None, wait: float = 2.0,
              database_url: str = "") -> WhatsmeowTransport:
    made = WhatsmeowTransport(WORK / "whatsmeow", ledger(), timing=Timing(connect_wait=wait),
                              threads=threads, database_url=database_url)
    events: list[str] = []

    async def sink(event: Any) -> None:
        events.append(f"{type(event).__name__}: {getattr(event, 'reason', '')}")

    made.attach(sink)
    made.events = events  # type: ignore[attr-defined]
    return made


async def until(check: Any) -> None:
    """Poll: what is awaited here happens in neonize's threads, with no event to wait on."""
    for _ in range(1000):
        if check():
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("never happened")


async def send_error(client: Any) -> str:
    try:
        await client.send_message(build_jid("15550100"), Message(conversation="hi"))
    except Exception as exc:
        return str(exc)
    return ""


async def hazard() -> dict[str, Any]:
    """neonize alone: two clients of one device id; the first is collected."""
    await silent_whatsapp()
    first = NewAClient(name=str(WORK / "dev-1.db"), uuid="dev-1")
    task = await first.connect()
    await asyncio.sleep(0.5)
    await first.stop()  # its session ends (a drop, a re-pair) and a new client follows
    await asyncio.gather(task, return_exceptions=True)
    second = NewAClient(name=str(WORK / "dev-1.db"), uuid="dev-1")
    await second.connect()
    await asyncio.sleep(0.5)
    del first, task
    gc.collect()
    said = await send_error(second)
    print(json.dumps({"send": said}), flush=True)
    await second.get_me()  # the Go side aborts the process here
    return {"survived": True}


async def reopen() -> dict[str, Any]:
    """The transport: the device's pairing is reopened; the old client is collected."""
    await silent_whatsapp()
    made = transport(wait=1.0)
    refused = []
    first = asyncio.create_task(made.start_pairing("dev-1"))
    await until(lambda: made.session("dev-1") is not None)
    gone = weakref.ref(made.session("dev-1").client)  # type: ignore[union-attr]
    try:
        await first
    except Exception as exc:
        refused.append(str(exc))
    del first  # its exception's traceback still names the old session
    second = asyncio.create_task(made.start_pairing("dev-1"))
    await until(lambda: made.session("dev-1") is not None)
    current = made.session("dev-1")
    assert current is not None
    await asyncio.sleep(0.3)
    gc.collect()
    result = {"first": refused, "send": await send_error(current.client),
              "connecting": not current._connect_task.done(),  # type: ignore[union-attr]
              "me": str((await current.client.get_me()).JID.User), "old_gone": gone() is None}
    try:
        await second
    except Exception as exc:
        result["second"] = str(exc)
    await made.close()
    return result


def linked_store(path: Path) -> None:
    """A session store holding one linked device, as whatsmeow writes it (its own schema,
    made by the wheel itself; the keys are random bytes of the lengths it checks)."""
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO whatsmeow_device (jid, registration_id, noise_key, identity_key, "
            "signed_pre_key, signed_pre_key_id, signed_pre_key_sig, adv_key, adv_details, "
            "adv_account_sig, adv_account_sig_key, adv_device_sig) "
            "VALUES (?, 1, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)",
            ("447700900123:11@s.whatsapp.net", os.urandom(32), os.urandom(32),
             os.urandom(32), os.urandom(64), os.urandom(32), os.urandom(16), os.urandom(64),
             os.urandom(32), os.urandom(64)))


class Dials(logging.Handler):
    """Counts the connects whatsmeow could not dial."""

    count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "WhatsApp unreachable: failed to dial" in record.getMessage():
            self.count += 1


async def offline() -> dict[str, Any]:
    """No network: pairing is refused for now, and a linked device is retried, not failed."""
    made = transport()
    result: dict[str, Any] = {}
    try:
        await made.start_pairing("dev-1")
    except Exception as exc:
        result["pairing"] = [type(exc).__name__, getattr(exc, "code", ""), str(exc)]
    linked_store(WORK / "whatsmeow" / "dev-1.db")  # the wheel made the schema just now
    attempts: list[bool] = []
    gave_up: list[int] = []

    async def attempt(n: int) -> bool:
        attempts.append(await made.resume("dev-1", "447700900123"))
        return attempts[-1]

    async def give_up(n: int) -> None:
        gave_up.append(n)

    dials = Dials()
    logging.getLogger("services.device.adapters.whatsmeow.session").addHandler(dials)
    reconnects = Reconnects(Backoff(base=0.01, cap=0.05, attempts=3))
    reconnects.start("dev-1", attempt, give_up)
    await until(lambda: not reconnects.active("dev-1"))
    result.update(attempts=attempts, gave_up=gave_up, events=made.events,  # type: ignore
                  threads=made.threads.live, dial_failures=dials.count)
    await made.close()
    return result


async def lost_store() -> dict[str, Any]:
    """The session store lost the device (reset): resume asks for a new link at once."""
    made = transport()
    await made.ledger.remember_jid("dev-1", LINKED_JID)
    with contextlib.suppress(Exception):
        await made.start_pairing("dev-1")  # whatsmeow makes the (empty) store
    resumed = await made.resume("dev-1", "447700900123")
    await asyncio.sleep(0.2)
    result = {"resumed": resumed, "events": made.events,  # type: ignore[attr-defined]
              "jid": await made.ledger.jid_of("dev-1")}
    await made.close()
    return result


LINKED_JID = "447700900123:11@s.whatsapp.net"


async def postgres_hazard() -> dict[str, Any]:
    """neonize alone: a PostgreSQL store without the device's row aborts the process."""
    client = NewAClient(name=os.environ["WHATSMEOW_DATABASE_URL"], uuid="dev-1",
                        jid=jid_from_text(LINKED_JID))
    await (await client.connect())
    return {"survived": True}


async def postgres_lost_store() -> dict[str, Any]:
    """The transport, the same store: resume asks for a new link and connects nothing."""
    made = transport(database_url=os.environ["WHATSMEOW_DATABASE_URL"])
    await made.ledger.remember_jid("dev-1", LINKED_JID)
    resumed = await made.resume("dev-1", "447700900123")
    await asyncio.sleep(0.2)
    result = {"resumed": resumed, "events": made.events,  # type: ignore[attr-defined]
              "jid": await made.ledger.jid_of("dev-1"), "clients": len(made._owners)}
    await made.close()
    return result


async def threads() -> dict[str, Any]:
    """Pairings nobody scans and sessions still connecting hold their own threads only:
    sends and the loop's default executor go on; past the bound a pairing is refused;
    an abandoned pairing gives its thread back."""
    await silent_whatsapp()
    made = transport(NeonizeThreads(max_sessions=6, call_workers=2), wait=5.0)
    pairings = [asyncio.create_task(made.start_pairing(f"dev-{n}")) for n in range(6)]
    await until(lambda: made.threads.live == 6)
    await asyncio.sleep(0.3)
    started = time.monotonic()
    sends = [await send_error(made.session(f"dev-{n}").client) for n in range(6)]  # type: ignore
    await asyncio.gather(*(asyncio.to_thread(time.sleep, 0.01) for _ in range(64)))
    quick = time.monotonic() - started
    refused = ""
    try:
        await made.start_pairing("dev-extra")
    except Exception as exc:
        refused = str(exc)
    outcomes = await asyncio.gather(*pairings, return_exceptions=True)
    result = {"quick": quick, "sends": sends, "refused": refused,
              "outcomes": [str(o) for o in outcomes], "live_after": made.threads.live,
              "session_threads": sorted({t.name.split("_")[0] for t in
                                         made.threads.sessions._threads})}  # noqa: SLF001
    await made.close()
    return result


async def starved() -> dict[str, Any]:
    """neonize alone, on the loop's default executor: as many connecting clients as it
    has threads, and any other `to_thread` call waits behind them."""
    await silent_whatsapp()
    clients = [NewAClient(name=str(WORK / f"dev-{n}.db"), uuid=f"dev-{n}")
               for n in range(min(32, (os.cpu_count() or 1) + 4))]
    # One at a time, a moment apart: goneonize writes its maps of clients without a lock
    # as each client starts and ends, and two at once can abort the process (`concurrent
    # map writes`); the transport's calls take turns (go_maps.py), neonize's own do not.
    # That is not what this scenario shows; each client holds its thread for good either way.
    for client in clients:
        await client.connect()
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    try:
        await asyncio.wait_for(asyncio.to_thread(time.sleep, 0), 2.0)
        waited = False
    except TimeoutError:
        waited = True
    for client in clients:
        await client.stop()
        await asyncio.sleep(0.1)
    return {"starved": waited}


CROWD, ROUNDS = 32, 60


async def crowd() -> dict[str, Any]:
    """Many devices at once, round after round: each round starts a pairing of every one
    together (no network: each dial fails at once and its session is stopped) while
    sends look up each device's client of the round before. goneonize adds and removes
    clients in its maps without a lock (go_maps.py): out of turn, Go aborts the process."""
    made = transport(NeonizeThreads(max_sessions=CROWD, call_workers=8))
    clients: list[NewAClient] = []

    def make_client(**args: Any) -> NewAClient:
        clients.append(NewAClient(**args))
        return clients[-1]

    made.make_client = make_client
    rounds: list[int] = []
    sends: set[str] = set()
    started = time.monotonic()
    for _ in range(ROUNDS):
        before = clients[-CROWD:]
        done = await asyncio.gather(*(made.start_pairing(f"dev-{n}") for n in range(CROWD)),
                                    *(send_error(client) for client in before),
                                    return_exceptions=True)
        rounds.append(sum("WhatsApp unreachable: failed to dial" in str(outcome)
                          for outcome in done[:CROWD]))
        sends.update(str(said) for said in done[CROWD:])
    result = {"rounds": rounds, "sends": sorted(sends), "seconds": time.monotonic() - started,
              "live_after": made.threads.live}
    await made.close()
    return result

SCENARIOS = {"starved": starved, "hazard": hazard, "reopen": reopen, "offline": offline,
             "lost_store": lost_store, "threads": threads, "postgres_hazard": postgres_hazard,
             "postgres_lost_store": postgres_lost_store, "crowd": crowd}

if __name__ == "__main__":
    (WORK / "whatsmeow").mkdir(parents=True, exist_ok=True)
    found = asyncio.run(SCENARIOS[sys.argv[1]]())
    print(json.dumps(found, default=str), flush=True)
