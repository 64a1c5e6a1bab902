"""kill -9 of the device service mid-send, then a restart: every message reaches its
recipient once. The far side (the simulator's inbox) already has the messages whose send
was not yet recorded; the restart sends them again under the same transport message id,
and the far side keeps one copy, as WhatsApp does."""

from __future__ import annotations

import asyncio

from switchboard.device.v1 import device_pb2
from tests.device.processes import device_process, device_store
from tests.device.service_support import eventually, messaging

COUNT = 5


async def sent_states(database_url: str, ids: list[str]) -> dict[str, list[str]]:
    async with device_store(database_url) as store:
        return {i: [e.event_type for e in await store.read_stream(f"dispatch-{i}")]
                for i in ids}


async def test_no_double_send_when_dispatch_is_killed_mid_send(database_url, fresh_nats_url,
                                                               tmp_path, unique):
    if database_url.startswith("sqlite"):
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'device.db'}"
    proc = device_process(database_url, fresh_nats_url, tmp_path, "replica-a", sim_pool=1,
                          sim_send_latency_ms=800, dispatch_ack_wait_seconds=2,
                          device_lease_ttl_seconds=3)
    to, ids = "447700900555", [f"{unique}-{n}" for n in range(COUNT)]
    proc.start()
    try:
        await proc.pool_ready(1)
        async with messaging(fresh_nats_url, tmp_path) as msg, proc.stub() as api:
            for message_id in ids:
                await msg.queue(message_id, to)

            async def all_received():
                inbox = await api.GetSimulatorInbox(
                    device_pb2.GetSimulatorInboxRequest(phone_number=to))
                return len(inbox.messages) == COUNT

            assert await eventually(all_received, within=15, every=0.01)
            proc.kill()  # the sends are in the far side's hands, not yet acknowledged
        at_kill = await sent_states(database_url, ids)
        mid_send = [i for i, types in at_kill.items() if types == ["MessageDispatched"]]
        assert mid_send, at_kill  # the kill did land between "received" and "recorded"

        proc.start()
        await proc.pool_ready(1)

        async def all_sent():
            states = await sent_states(database_url, ids)
            return all("MessageSent" in types for types in states.values())

        assert await eventually(all_sent, within=20)
        await asyncio.sleep(0.3)
        for types in (await sent_states(database_url, ids)).values():
            assert types.count("MessageDispatched") == 1 and types.count("MessageSent") == 1
        async with proc.stub() as api:
            inbox = await api.GetSimulatorInbox(
                device_pb2.GetSimulatorInboxRequest(phone_number=to))
        assert sorted(m.transport_message_id for m in inbox.messages) == sorted(
            f"sb-{i}" for i in ids)
    finally:
        proc.stop()
