"""Publishes whose acks are awaited together (kernel/wire.py `Publishes`), against a real
nats-server: stored in order, duplicates dropped by the broker, refusals raised; and
many messages published in one write, as nats-py publishes each."""

from __future__ import annotations

import asyncio
import time

import nats
import pytest
from nats import errors
from nats.aio.client import Client as NATS
from nats.js.api import DiscardPolicy, StreamConfig

from kernel import bus
from kernel.wire import Publishes, PublishFailedError, nothing_pending, publish_many, stored_at


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


async def _received(nc: NATS, subject: str, count: int, publish) -> list[tuple]:
    """What a subscriber of `subject` gets of `count` messages that `publish` sends."""
    got: list[tuple] = []
    done = asyncio.get_running_loop().create_future()

    async def take(msg) -> None:
        got.append((msg.subject, msg.reply, msg.data, msg.headers))
        if len(got) == count:
            done.set_result(None)

    sub = await nc.subscribe(subject, cb=take)
    await nc.flush()
    await publish()
    await asyncio.wait_for(done, 5)
    await sub.unsubscribe()
    return got


async def test_messages_published_at_once_arrive_as_nats_py_publishes_them(
        nc: NATS, unique: str) -> None:
    """Subjects, replies, payloads and headers (a value's line break made a space, as
    nats-py makes it), in order, with and without headers."""
    out = [(f"p{unique}.a", "", b"plain", None),
           (f"p{unique}.b", f"r{unique}.1", b"", {"Nats-Msg-Id": "x1", "Sb-Event": " a b\nc "}),
           (f"p{unique}.c", f"r{unique}.2", b"\x00\r\n" * 100, {"Nats-Msg-Id": "x2"})]

    async def theirs() -> None:
        for msg_subject, reply, payload, headers in out:
            await nc.publish(msg_subject, payload, reply=reply, headers=headers)

    async def ours() -> None:
        await publish_many(nc, out)

    assert (await _received(nc, f"p{unique}.*", 3, ours)
            == await _received(nc, f"p{unique}.*", 3, theirs))
    assert [m[0] for m in await _received(nc, f"p{unique}.*", 3, ours)] == [
        f"p{unique}.a", f"p{unique}.b", f"p{unique}.c"]


async def test_a_payload_over_the_servers_limit_is_refused_and_nothing_is_sent(
        nc: NATS, unique: str) -> None:
    got: list[bytes] = []

    async def take(msg) -> None:
        got.append(msg.data)

    sub = await nc.subscribe(f"big{unique}", cb=take)
    with pytest.raises(errors.MaxPayloadError):
        await publish_many(nc, [(f"big{unique}", "", b"ok", None),
                                (f"big{unique}", "", b"x" * (nc.max_payload + 1), None)])
    await nc.flush()
    await sub.unsubscribe()
    assert got == []


async def test_publishes_while_the_connection_is_closed_fail_as_nats_py_fails_them(
        nats_url: str) -> None:
    closed = await nats.connect(nats_url)
    await closed.close()
    with pytest.raises(errors.ConnectionClosedError):
        await publish_many(closed, [("any", "", b"x", None)])


async def test_a_delivery_says_when_its_message_was_stored(nats_url: str, unique: str) -> None:
    """`stored_at` reads the stream's own time of the message off its reply subject."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    service = f"stamp{unique}"
    await bus.ensure_stream(js, service)
    try:
        before = time.time()
        await js.publish(bus.subject(service, "Happened"), b"x")
        after = time.time()
        sub = await js.pull_subscribe(bus.subject(service, "Happened"), f"stamp-{unique}",
                                      stream=bus.stream_name(service))
        [msg] = await sub.fetch(1, timeout=5)
        await msg.ack()
    finally:
        await js.delete_stream(bus.stream_name(service))
        await nc.close()
    assert before - 1.0 <= stored_at(msg.reply) <= after + 1.0
    assert stored_at(msg.reply) == pytest.approx(msg.metadata.timestamp.timestamp(), abs=1e-5)
