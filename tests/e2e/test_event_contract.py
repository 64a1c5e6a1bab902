"""The bus as a public contract, end to end: an outside system connects to a running
stack as the read-only NATS user `reader`, and decodes a live event knowing only the
gateway's /asyncapi.json and the .proto files (compiled here, into a pool of its own);
the reader can publish nothing and read nothing but the events."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from nats.aio.msg import Msg

from kernel import bus
from tests.support.stack import Stack, running_stack

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("contract")) as running:
        yield running


def proto_pool(tmp_path: Path) -> descriptor_pool.DescriptorPool:
    """Every message of proto/, as an outside system would build it: protoc's descriptor
    set, in a pool apart from the one the product's generated code uses."""
    out = tmp_path / "protos.pb"
    protos = [str(p.relative_to(ROOT / "proto")) for p in (ROOT / "proto").rglob("*.proto")]
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT / 'proto'}",
                    "--include_imports", f"--descriptor_set_out={out}", *protos],
                   check=True, capture_output=True, timeout=120)
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file:
        pool.Add(file)
    return pool


class Reader:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.seen: list[Msg] = []

    async def connect(self, stack: Stack) -> Any:
        async def on_error(exc: Exception) -> None:
            self.errors.append(str(exc).lower())

        return await nats.connect(stack.nats_url("reader"), error_cb=on_error,
                                  allow_reconnect=False)

    async def complaint(self, words: str) -> bool:
        for _ in range(100):
            if any("permissions violation" in e and words.lower() in e for e in self.errors):
                return True
            await asyncio.sleep(0.02)
        return False


async def test_an_outside_system_decodes_a_live_event_from_the_document_and_the_protos(
        stack: Stack, tmp_path: Path) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as api:
        doc = (await api.get("/asyncapi.json")).json()
        reader = Reader()
        nc = await reader.connect(stack)
        arrived: asyncio.Queue[Msg] = asyncio.Queue()
        await nc.subscribe("sb.>", cb=arrived.put)
        await nc.flush()
        name = f"ext{uuid.uuid4().hex[:8]}"
        made = await api.post("/api/auth/register",
                              json={"username": name, "password": "ext-password-1"})
        assert made.status_code == 201, made.text
    channels = {c["address"]: key for key, c in doc["channels"].items()}
    pool = proto_pool(tmp_path)
    while True:
        msg = await asyncio.wait_for(arrived.get(), timeout=30)
        key = channels[msg.subject]  # every subject on the bus is in the document
        message = doc["components"]["messages"][key]
        assert msg.headers and msg.headers["Nats-Msg-Id"] == msg.headers["Sb-Event"].split()[0]
        cls = message_factory.GetMessageClass(
            pool.FindMessageTypeByName(message["x-protobuf-message"]))
        event = cls.FromString(msg.data)
        if msg.subject == "sb.auth.UserRegistered" and event.username == name:
            break
    assert event.user_id == made.json()["user_id"]
    await nc.close()
    assert reader.errors == []


async def test_the_reader_cannot_publish_nor_read_beyond_the_events(stack: Stack) -> None:
    owner = await nats.connect(stack.nats_url("auth"), inbox_prefix=bus.inbox_prefix("auth"))
    before = (await owner.jetstream().stream_info("SB_AUTH")).state.last_seq
    reader = Reader()
    nc = await reader.connect(stack)
    await nc.publish("sb.auth.UserRegistered", b"forged")
    await nc.flush()
    assert await reader.complaint("publish to \"sb.auth.userregistered\"")
    await nc.subscribe("$KV.sb_gateway_ratelimit.>")
    await nc.flush()
    assert await reader.complaint("subscription to \"$kv.sb_gateway_ratelimit.>\"")
    await asyncio.sleep(0.3)
    assert (await owner.jetstream().stream_info("SB_AUTH")).state.last_seq == before
    await nc.close()
    await owner.close()
