"""Projection rebuild rate: the history and quota views replayed from N real events on
SQLite and PostgreSQL, each beside raw JetStream publish/consume of the same messages and a
raw SQLAlchemy insert of N rows into the same store.

The events are published straight onto the streams of a nats-server of the phase's own
(see rebuild_data.py); `switchboard projections rebuild history|quota` is then timed as the
CLI runs it (`rebuild_history` / `rebuild_quota`)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NATS
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import (
    BigInteger,
    Column,
    LargeBinary,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
)

from bench.procstats import loadavg, tree_cpu
from bench.rebuild_data import Outgoing, history_events, quota_events
from kernel import bus
from kernel.db import engine_for
from kernel.projection import FETCH
from kernel.replay import replay
from launcher import natsserver
from launcher.settings import StackSettings
from services.billing.adapters.quota_view import instance_periods, user_months
from services.billing.rebuild import rebuild_quota
from services.messaging.adapters.history_projection import HistoryProjection
from services.messaging.adapters.history_view import message_history
from services.messaging.rebuild import rebuild_history
from tests.support import postgres

TARGET_EVENTS_PER_S = 50_000
CHUNK = 5000
raw_metadata = MetaData()
raw_rows = Table("bench_raw_rows", raw_metadata,
                 Column("row_id", String(36), primary_key=True),
                 Column("n", BigInteger, nullable=False),
                 Column("payload", LargeBinary, nullable=False))


async def publish(nc: NATS, events: Iterable[Outgoing]) -> tuple[int, float]:
    """Core-NATS publishes onto the stream subjects, flushed every CHUNK; timed until the
    streams hold every message. Returns (published, seconds)."""
    js = nc.jetstream()
    before = {s: (await js.stream_info(bus.stream_name(s))).state.messages
              for s in ("messaging", "device", "billing")}
    sent: dict[str, int] = dict.fromkeys(before, 0)
    start = time.perf_counter()
    for n, out in enumerate(events, 1):
        e = out.event
        await nc.publish(bus.subject(out.service, e.event_type), e.payload,
                         headers=bus.headers_for(out.service, e))
        sent[out.service] += 1
        if n % CHUNK == 0:
            await nc.flush()
    await nc.flush()
    for service, count in sent.items():
        await _holding(nc, service, before[service] + count)
    return sum(sent.values()), time.perf_counter() - start


async def _holding(nc: NATS, service: str, expected: int, patience: float = 120.0) -> None:
    """Wait until the service's stream holds `expected` messages (it stores them in order
    after the flush)."""
    js = nc.jetstream()
    for _ in range(int(patience / 0.01)):
        held = (await js.stream_info(bus.stream_name(service))).state.messages
        if held >= expected:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"{service} stream holds {held} of {expected} published messages")


async def consume(nc: NATS, sources: dict[str, list[str]]) -> tuple[int, float]:
    """Read the projection's source subjects back, as its replay does, and do nothing
    with them. Returns (messages, seconds)."""
    js = nc.jetstream()
    start, count = time.perf_counter(), 0
    for service, types in sources.items():
        subjects = [bus.subject(service, t) for t in types]
        config = ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL,
                                filter_subjects=subjects, inactive_threshold=60.0)
        psub = await js.pull_subscribe(subjects[0], stream=bus.stream_name(service),
                                       config=config)
        try:
            while True:
                try:
                    msgs = await psub.fetch(4000, timeout=1.0)
                except (NatsTimeoutError, TimeoutError):
                    break
                count += len(msgs)
                if msgs[-1].metadata.num_pending == 0:
                    break
        finally:
            await psub.unsubscribe()
    return count, time.perf_counter() - start


async def replay_consume(nc: NATS, sources: dict[str, list[str]]) -> tuple[int, float]:
    """The same messages read by the rebuild's own reader (kernel/replay.py), decoded
    into envelopes and nothing more. Returns (messages, seconds)."""
    start, count = time.perf_counter(), 0
    for service, types in sources.items():
        async for batch in replay(nc.jetstream(), service,
                                  [bus.subject(service, t) for t in types], FETCH):
            count += len(batch)
    return count, time.perf_counter() - start


async def raw_insert(settings: StackSettings, total: int) -> float:
    """N rows inserted with SQLAlchemy Core, CHUNK rows per executemany and transaction."""
    engine = await engine_for("benchraw", settings)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(raw_metadata.drop_all)
            await conn.run_sync(raw_metadata.create_all)
        start = time.perf_counter()
        for first in range(0, total, CHUNK):
            rows = [{"row_id": str(uuid.uuid4()), "n": n, "payload": b"x" * 64}
                    for n in range(first, min(total, first + CHUNK))]
            async with engine.begin() as conn:
                await conn.execute(insert(raw_rows), rows)
        return time.perf_counter() - start
    finally:
        await engine.dispose()


async def count_rows(settings: StackSettings, service: str, tables: list[Table]) -> list[int]:
    engine = await engine_for(service, settings)
    try:
        async with engine.connect() as conn:
            return [int((await conn.execute(select(func.count()).select_from(t))).scalar_one())
                    for t in tables]
    finally:
        await engine.dispose()


VIEWS: dict[str, tuple[Callable[[int], Iterator[Outgoing]], Any, str, list[Table]]] = {
    "history": (history_events, rebuild_history, "messaging", [message_history]),
    "quota": (quota_events, rebuild_quota, "billing", [instance_periods, user_months]),
}


def _sources(view: str) -> dict[str, list[str]]:
    if view == "history":
        return {s: list(t) for s, t in HistoryProjection().sources.items()}
    from services.billing.adapters.quota_projection import QuotaProjection
    return {s: list(t) for s, t in QuotaProjection().sources.items()}


class CpuClock:
    """CPU seconds used by this process (all its threads, so SQLite's work too) and by the
    nats-server: on a loaded machine, wall-clock rates say more about the neighbours."""

    def __init__(self, nats_pid: int) -> None:
        self.nats_pid = nats_pid

    def read(self) -> tuple[float, float]:
        return time.process_time(), sum(tree_cpu(self.nats_pid).values())

    def since(self, mark: tuple[float, float]) -> dict[str, float]:
        now = self.read()
        return {"bench_process_cpu_s": round(now[0] - mark[0], 2),
                "nats_server_cpu_s": round(now[1] - mark[1], 2)}


async def one_view(nc: NATS, view: str, total: int, backends: dict[str, StackSettings],
                   log: Callable[[str], None], clock: CpuClock) -> dict[str, Any]:
    make, rebuild, service, tables = VIEWS[view]
    js = nc.jetstream()
    for s in ("messaging", "device", "billing"):
        await js.purge_stream(bus.stream_name(s))
    published, pub_s = await publish(nc, make(total))
    mark = clock.read()
    consumed, con_s = await consume(nc, _sources(view))
    consume_cpu, mark = clock.since(mark), clock.read()
    replayed, replay_s = await replay_consume(nc, _sources(view))
    result: dict[str, Any] = {
        "events": published, "publish_per_s": round(published / pub_s),
        "consume_per_s": round(consumed / con_s), "consumed": consumed,
        "consume_cpu": consume_cpu, "replay_per_s": round(replayed / replay_s),
        "replayed": replayed, "replay_cpu": clock.since(mark), "backends": {}}
    log(f"rebuild {view}: {published} events published at {result['publish_per_s']}/s, "
        f"consumed raw at {result['consume_per_s']}/s ({result['consume_cpu']}), "
        f"read by the replay at {result['replay_per_s']}/s ({result['replay_cpu']}) "
        f"| load {loadavg()}")
    for backend, settings in backends.items():
        mark = clock.read()
        insert_s = await raw_insert(settings, published)
        insert_cpu = clock.since(mark)
        mark, start = clock.read(), time.perf_counter()
        applied = await rebuild(settings)
        seconds = time.perf_counter() - start
        rate = applied / seconds
        rows = await count_rows(settings, service, tables)
        result["backends"][backend] = {
            "applied": applied, "seconds": round(seconds, 1), "events_per_s": round(rate),
            "cpu": clock.since(mark), "raw_insert_cpu": insert_cpu,
            "raw_insert_rows_per_s": round(published / insert_s), "view_rows": rows,
            "ratio_to_consume": round(rate / result["consume_per_s"], 3),
            "ratio_to_insert": round(rate * insert_s / published, 3),
            "target_met": rate >= TARGET_EVENTS_PER_S, "loadavg": loadavg()}
        r = result["backends"][backend]
        log(f"rebuild {view} on {backend}: {applied} events in {seconds:.1f}s = "
            f"{rate:,.0f} events/s (target >= {TARGET_EVENTS_PER_S:,}) | raw insert "
            f"{r['raw_insert_rows_per_s']:,} rows/s, raw consume {result['consume_per_s']:,}/s "
            f"| ratios {r['ratio_to_insert']}x insert, {r['ratio_to_consume']}x consume "
            f"| view rows {rows} | CPU {r['cpu']} (raw insert {insert_cpu}) | load {r['loadavg']}")
    return result


async def run_rebuild(total: int, views: list[str], backends: list[str],
                      log: Callable[[str], None]) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="switchboard-bench-rebuild-"))
    port = natsserver.free_port()
    server = natsserver.start(port, root / "nats")
    natsserver.wait_for_port("127.0.0.1", port, timeout=20)
    url = f"nats://127.0.0.1:{port}"
    with contextlib.ExitStack() as stack:
        settings = {}
        if "sqlite" in backends:
            settings["sqlite"] = StackSettings(nats_url=url, var_dir=root / "sqlite",
                                               database_url="")
        if "postgresql" in backends:
            pg_url = stack.enter_context(postgres.server())
            settings["postgresql"] = StackSettings(nats_url=url, var_dir=root / "pg",
                                                   database_url=pg_url)
        nc = await bus.connect(url, name="bench-rebuild")
        try:
            js = nc.jetstream()
            for s in ("messaging", "device", "billing"):
                await bus.ensure_stream(js, s)
            clock = CpuClock(server.pid)
            return {view: await one_view(nc, view, total, settings, log, clock)
                    for view in views}
        finally:
            await nc.close()
            server.terminate()
            server.wait(10)
            shutil.rmtree(root, ignore_errors=True)
