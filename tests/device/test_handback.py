"""A device that drops mid-batch hands its unsent messages back to the queue (nak), and
another device sends them: each once, none failed. Real NATS, SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter

from services.device.adapters.codec import device_codec
from services.device.adapters.transports import simulator_from
from services.device.domain.events import MessageDispatched, MessageSent
from switchboard.device.v1 import device_pb2
from tests.device.service_support import (
    LIFECYCLE,
    device_service,
    device_settings,
    eventually,
    messaging,
    stream_types,
    stub,
)


async def decoded(host, stream: str) -> list[object]:
    codec = device_codec()
    return [codec.decode(e) for e in await host.infra.store.read_stream(stream)]


async def test_a_dropped_device_hands_its_paced_messages_to_another(database_url, nats_url,
                                                                    tmp_path, unique):
    settings = device_settings(database_url, nats_url, tmp_path, sim_pool=2,
                               dispatch_min_gap_ms=600)
    sim = simulator_from(settings)
    to = f"4478{int(unique, 16) % 10**8:08d}"
    ids = [f"{unique}-{n}" for n in range(6)]
    async with messaging(nats_url, tmp_path) as msg, \
            device_service(settings, f"dispatch-{unique}", sim) as host, stub(host) as api:
        for message_id in ids:
            await msg.queue(message_id, to)
        assert await eventually(lambda: _sent_through(host, ids, "pool-1"), within=5)
        await sim.logout_from_phone("pool-1", "logged out mid-batch")  # 2 of its 3 wait

        async def all_read():
            return all([await stream_types(host, f"dispatch-{i}") == LIFECYCLE for i in ids])

        assert await eventually(all_read, within=15)
        routes: Counter[tuple[str, str]] = Counter()  # (claimed by, sent by)
        for message_id in ids:
            events = await decoded(host, f"dispatch-{message_id}")
            [claimed] = [e.device_id for e in events if isinstance(e, MessageDispatched)]
            [sent] = [e.device_id for e in events if isinstance(e, MessageSent)]
            routes[(claimed, sent)] += 1
        assert routes[("pool-1", "pool-2")] >= 1  # handed back, then sent by the other
        assert routes[("pool-2", "pool-1")] == 0 and sum(routes.values()) == 6
        inbox = await api.GetSimulatorInbox(device_pb2.GetSimulatorInboxRequest(phone_number=to))
        assert sorted(m.transport_message_id for m in inbox.messages) == sorted(
            f"sb-{i}" for i in ids)


async def _sent_through(host, ids: list[str], device_id: str) -> bool:
    for message_id in ids:
        for event in await decoded(host, f"dispatch-{message_id}"):
            if isinstance(event, MessageSent) and event.device_id == device_id:
                return True
    return False
