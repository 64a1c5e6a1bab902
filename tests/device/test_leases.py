"""Each device session has one owner among the replicas: leases in NATS KV.

Replica A is a real process, replica B a ServiceHost in the test; both share one NATS,
one database (SQLite file, or PostgreSQL schema) and the simulator's far side. While A
lives it owns the pool and B hands every pool message back; after kill -9 of A its
leases lapse and B takes the devices over and sends."""

from __future__ import annotations

import asyncio
import functools

import nats

from kernel.host import ServiceHost
from kernel.media_store import media_store
from services.device.adapters.leases import KvLeases
from services.device.adapters.transports import simulator_from
from services.device.bootstrap import build
from tests.device.processes import device_process, device_store
from tests.device.service_support import device_settings, eventually, messaging

TTL = 1.5


async def test_a_lease_is_held_by_one_replica_until_it_lapses(nats_url, unique):
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    a = KvLeases(js, f"leases_{unique}", "replica-a", TTL)
    b = KvLeases(js, f"leases_{unique}", "replica-b", TTL)
    assert await a.acquire("dev-1") and not await b.acquire("dev-1")
    assert await a.renew("dev-1") and await b.holder("dev-1") == "replica-a"
    a_again = KvLeases(js, f"leases_{unique}", "replica-a", TTL)  # A restarted, same id
    assert await a_again.acquire("dev-1")
    await a_again.release("dev-1")
    assert await b.acquire("dev-1") and not await a.renew("dev-1")
    await asyncio.sleep(TTL + 0.5)  # b stops renewing: it died
    assert await b.holder("dev-1") is None and await a.acquire("dev-1")
    await nc.close()


async def sent(database_url: str, ids: list[str]) -> bool:
    async with device_store(database_url) as store:
        for message_id in ids:
            types = [e.event_type for e in await store.read_stream(f"dispatch-{message_id}")]
            if "MessageSent" not in types:
                return False
    return True


async def test_a_surviving_replica_takes_over_the_devices_of_a_dead_one(
        database_url, fresh_nats_url, tmp_path, unique):
    if database_url.startswith("sqlite"):
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'device.db'}"
    bucket, to = f"leases_{unique}", "447700900777"
    common = {"sim_pool": 2, "device_lease_bucket": bucket, "device_lease_ttl_seconds": TTL,
              "dispatch_ack_wait_seconds": 2}
    replica_a = device_process(database_url, fresh_nats_url, tmp_path, "replica-a", **common)
    settings_b = device_settings(database_url, fresh_nats_url, tmp_path,
                                 device_replica_id="replica-b", **common)
    sim_b = simulator_from(settings_b, media_store(settings_b))
    host_b = ServiceHost("device", settings_b, functools.partial(build, transport=sim_b))
    replica_a.start()
    try:
        await replica_a.pool_ready(2)
        await host_b.start("127.0.0.1:0")
        async with messaging(fresh_nats_url, tmp_path) as msg:
            assert not sim_b.is_linked("pool-1") and not sim_b.is_linked("pool-2")
            first = [f"{unique}-a{n}" for n in range(4)]
            for message_id in first:
                await msg.queue(message_id, to)
            assert await eventually(lambda: sent(database_url, first), within=15)
            assert sim_b.sends == 0  # B handed them back to A, the owner

            replica_a.kill()
            assert await eventually(lambda: asyncio.sleep(0, sim_b.is_linked("pool-1")
                                                          and sim_b.is_linked("pool-2")),
                                    within=TTL * 4)
            leases = KvLeases(msg.js, bucket, "observer", TTL)
            assert await leases.holder("pool-1") == "replica-b"
            later = [f"{unique}-b{n}" for n in range(4)]
            for message_id in later:
                await msg.queue(message_id, to)
            assert await eventually(lambda: sent(database_url, later), within=15)
            assert sim_b.sends >= len(later)
        inbox = [m.transport_message_id for m in sim_b.inbox(to)]
        assert sorted(inbox) == sorted(f"sb-{i}" for i in first + later)
        async with device_store(database_url) as store:
            pool = [e.event_type for e in await store.read_stream("device-pool-1")]
        assert pool == ["DeviceRegistered", "QrIssued", "DeviceConnected"]  # no relink
    finally:
        replica_a.stop()
        await host_b.stop(grace=0.5)
