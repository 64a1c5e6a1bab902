"""Publishes whose acks are awaited together (kernel/wire.py `Publishes`), against a real
nats-server: stored in order, duplicates dropped by the broker, refusals raised."""

from __future__ import annotations

import pytest
from nats.aio.client import Client as NATS
from nats.js.api import DiscardPolicy, StreamConfig

from kernel.wire import Publishes, PublishFailedError, nothing_pending


def _messages(prefix: str, count: int) -> list[tuple[str, bytes, dict[str, str]]]:
    return [(f"{prefix}.e", b"%d" % n, {"Nats-Msg-Id": f"{prefix}-{n}"}) for n in range(count)]


async def test_a_batch_is_stored_in_order_and_a_batch_published_again_adds_nothing(
        nc: NATS, unique: str) -> None:
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=f"W{unique}", subjects=[f"w{unique}.>"]))
    publishes = Publishes(nc)
    try:
        await publishes.publish_all(_messages(f"w{unique}", 300))
        await publishes.publish_all(_messages(f"w{unique}", 300))  # as after a crash
        info = await js.stream_info(f"W{unique}")
        stored = [(await js.get_msg(f"W{unique}", seq)).data for seq in (1, 150, 300)]
    finally:
        await js.delete_stream(f"W{unique}")
    assert info.state.messages == 300
    assert stored == [b"0", b"149", b"299"]
    assert publishes.waiting == {}


async def test_a_publish_no_stream_takes_fails_its_batch(nc: NATS, unique: str) -> None:
    with pytest.raises(PublishFailedError, match="503"):
        await Publishes(nc).publish_all(_messages(f"nostream{unique}", 3))


async def test_a_publish_the_stream_refuses_fails_its_batch(nc: NATS, unique: str) -> None:
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=f"F{unique}", subjects=[f"f{unique}.>"],
                                     max_msgs=2, discard=DiscardPolicy.NEW))
    try:
        with pytest.raises(PublishFailedError, match="maximum messages"):
            await Publishes(nc).publish_all(_messages(f"f{unique}", 3))
        kept = (await js.stream_info(f"F{unique}")).state.messages
    finally:
        await js.delete_stream(f"F{unique}")
    assert kept == 2


def test_the_last_message_is_known_by_its_reply_subject_in_either_form() -> None:
    """The pending count ends the usual ack subject; a JetStream domain's form has a
    token after it, and is read by nats-py."""
    usual = "$JS.ACK.S.C.1.5.5.1700000000000000000"
    assert nothing_pending(f"{usual}.0")
    assert not nothing_pending(f"{usual}.10")
    assert not nothing_pending(f"{usual}.3")
    domain = "$JS.ACK.dom.hash.S.C.1.5.5.1700000000000000000"
    assert nothing_pending(f"{domain}.0.rnd")
    assert not nothing_pending(f"{domain}.10.0")
