"""Oversized request bodies are refused early, on both APIs, in each API's envelope.

The gateway runs for real (its lifespan, a real nats-server for the rate limiter); no
service is needed, because every refusal here happens before a route would call one. A
body is an async generator that records how much of it the gateway pulled, so "early"
is measured, not assumed: a declared length over the limit is refused with nothing
pulled, a body without a length is cut off within one chunk of the limit, and one that
never ends is still answered by a real HTTP server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.settings import GatewaySettings
from tests.gateway.test_stream_api import real_gateway
from tests.support.services import gateway_client

LIMIT = 4096
CHUNK = 256
MESSAGING = "/api/messages/send-message"
INSTANCE = "/api/v1/whatsapp/send"


def too_large(path: str) -> dict[str, object]:
    if path == INSTANCE:
        return {"success": False, "message": "Request body too large",
                "error": "PAYLOAD_TOO_LARGE", "data": None}
    return {"error": "PAYLOAD_TOO_LARGE", "message": "Request body too large", "code": 413}


class Body:
    """A request body of `chunks` chunks (None: endless), counting what was pulled."""

    def __init__(self, chunks: int | None = None, payload: bytes = b"") -> None:
        self.chunks, self.payload, self.pulled = chunks, payload, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.payload:
            self.pulled += len(self.payload)
            yield self.payload
        while self.chunks is None or self.pulled < self.chunks * CHUNK:
            self.pulled += CHUNK
            yield b" " * CHUNK


@pytest.fixture
async def api(fresh_nats_url: str, tmp_path):
    settings = GatewaySettings(nats_url=fresh_nats_url, var_dir=tmp_path, max_body_bytes=LIMIT)
    async with gateway_client(settings) as client:
        yield client


@pytest.mark.parametrize("path", [MESSAGING, INSTANCE])
async def test_a_declared_length_over_the_limit_is_refused_before_a_byte_is_read(
        api: httpx.AsyncClient, path: str) -> None:
    body = Body(chunks=LIMIT // CHUNK + 1)
    refused = await api.post(path, content=body, headers={
        "Content-Length": str(LIMIT + 1), "Content-Type": "application/json"})
    assert (refused.status_code, refused.json()) == (413, too_large(path))
    assert body.pulled == 0
    assert refused.headers["X-Correlation-Id"]


@pytest.mark.parametrize("path", [MESSAGING, INSTANCE])
async def test_a_body_without_a_length_is_cut_off_at_the_limit(
        api: httpx.AsyncClient, path: str) -> None:
    body = Body(chunks=None)  # endless: only a cut-off ends this request
    refused = await api.post(path, content=body, headers={"Content-Type": "application/json"})
    assert (refused.status_code, refused.json()) == (413, too_large(path))
    assert LIMIT < body.pulled <= LIMIT + CHUNK


@pytest.mark.parametrize(("path", "payload", "refusal"), [
    (MESSAGING, {"number": "27821234567", "message": "hi"}, (401, "UNAUTHORIZED")),
    (INSTANCE, {"phoneNumber": "27821234567", "message": "hi"}, (401, "INVALID_CREDENTIALS")),
])
async def test_a_body_within_the_limit_is_read_to_the_end(
        api: httpx.AsyncClient, path: str, payload: dict[str, str],
        refusal: tuple[int, str]) -> None:
    """Control: streamed to just under the limit, the body is read and the route runs
    (and refuses the missing credentials, which it checks after reading the body)."""
    text = json.dumps(payload).encode()
    body = Body(chunks=(LIMIT - len(text)) // CHUNK, payload=text)
    answer = await api.post(path, content=body, headers={"Content-Type": "application/json"})
    assert (answer.status_code, answer.json()["error"]) == refusal
    assert LIMIT - CHUNK < body.pulled <= LIMIT


@pytest.mark.parametrize("path", [MESSAGING, INSTANCE])
@pytest.mark.parametrize("length", ["abc", "-1", "1e3", "0x10"])
async def test_a_content_length_that_is_not_a_number_is_a_bad_request(
        api: httpx.AsyncClient, path: str, length: str) -> None:
    body = Body(chunks=1)
    refused = await api.post(path, content=body, headers={
        "Content-Length": length, "Content-Type": "application/json"})
    assert refused.status_code == 400
    expected = "Invalid Content-Length header"
    if path == INSTANCE:
        assert refused.json() == {"success": False, "message": expected,
                                  "error": "INVALID_REQUEST", "data": None}
    else:
        assert refused.json() == {"error": "INVALID_REQUEST", "message": expected, "code": 400}
    assert body.pulled == 0


async def _endless_chunked_post(port: int, path: str) -> bytes:
    """POST a chunked body that never ends over a real socket; the answer's bytes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"POST {path} HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n".encode())

    async def feed() -> None:
        while True:
            writer.write(b"%x\r\n%s\r\n" % (CHUNK, b" " * CHUNK))
            await writer.drain()
            await asyncio.sleep(0.001)

    feeding = asyncio.create_task(feed())
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        return head + await asyncio.wait_for(reader.readexactly(length), 10)
    finally:
        feeding.cancel()
        await asyncio.gather(feeding, return_exceptions=True)
        writer.close()


@pytest.mark.parametrize("path", [MESSAGING, INSTANCE])
async def test_a_real_server_answers_an_endless_chunked_body_with_413(
        fresh_nats_url: str, tmp_path, path: str) -> None:
    settings = GatewaySettings(nats_url=fresh_nats_url, var_dir=tmp_path, max_body_bytes=LIMIT)
    async with real_gateway(settings) as api:
        answer = await _endless_chunked_post(api.base_url.port or 80, path)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert json.loads(body) == too_large(path)
