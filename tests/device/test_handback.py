"""A device that drops mid-batch hands its unsent messages back to the queue (nak), and
another device sends them: each once, none failed. Real NATS, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter

from kernel.media_store import media_store
from services.device.adapters.codec import device_codec
from services.device.adapters.simulator import SimulatorTransport
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


def slow_after_first_send(sim: SimulatorTransport, device_id: str) -> asyncio.Event:
    """The phone of `device_id` answers its first send, then holds every later one until
    the returned event is set: the drop below then comes while its other messages wait,
    however slowly the machine claims them."""
    answer, send, sent = asyncio.Event(), sim.send, Counter[str]()

    async def held_send(device: str, to: str, body: str, transport_message_id: str):
        if device == device_id and sent[device]:
            await answer.wait()
        sent[device] += 1
        return await send(device, to, body, transport_message_id)

    sim.send = held_send  # type: ignore[method-assign]
    return answer


async def test_a_dropped_device_hands_its_paced_messages_to_another(database_url, nats_url,
                                                                    tmp_path, unique):
    settings = device_settings(database_url, nats_url, tmp_path, sim_pool=2,
                               dispatch_min_gap_ms=600)
    sim = simulator_from(settings, media_store(settings))
    answer = slow_after_first_send(sim, "pool-1")
    to = f"4478{int(unique, 16) % 10**8:08d}"
    ids = [f"{unique}-{n}" for n in range(6)]
    async with messaging(nats_url, tmp_path) as msg, \
            device_service(settings, f"dispatch-{unique}", sim) as host, stub(host) as api:
        for message_id in ids:
            await msg.queue(message_id, to)

        async def all_claimed_and_one_sent():
            claimed = all([await stream_types(host, f"dispatch-{i}") for i in ids])
            return claimed and await _sent_through(host, ids, "pool-1")

        # Both pool devices take turns (the pacer's gap), so pool-1 claims at least two:
        # the first goes out, the others wait for their slot or their answer.
        assert await eventually(all_claimed_and_one_sent, within=10)
        await sim.logout_from_phone("pool-1", "logged out mid-batch")
        answer.set()

        async def all_read():
            return all([await stream_types(host, f"dispatch-{i}") == LIFECYCLE for i in ids])

        assert await eventually(all_read, within=15)
        routes: Counter[tuple[str, str]] = Counter()  # (claimed by, sent by)
        for message_id in ids:
            events = await decoded(host, f"dispatch-{message_id}")
            [claimed] = [e.device_id for e in events if isinstance(e, MessageDispatched)]
            [sent] = [e.device_id for e in events if isinstance(e, MessageSent)]
            routes[(claimed, sent)] += 1
        assert routes[("pool-1", "pool-1")] == 1  # sent before the drop
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
