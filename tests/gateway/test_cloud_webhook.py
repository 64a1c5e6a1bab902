"""The Cloud API webhook route, served over real HTTP by the gateway, with the device
service's CloudWebhookService (and its cloud transport) behind it over real gRPC. The
Cloud API stand-in plays Meta: it accepts the sends and signs the status webhooks."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn

from gateway.app import create_app
from gateway.settings import GatewaySettings
from kernel.rpc import build_server
from services.device.adapters.cloud import CloudTransport
from services.device.app.transport import (
    Inbound,
    InboundMedia,
    InboundType,
    Receipt,
    ReceiptKind,
)
from services.device.ports.cloud_webhook import cloud_parts
from tests.device.transports.cloud_standin import FakeCloudApi, sign
from tests.device.transports.cloud_support import NUMBER_ID, Sleeps, cloud_api, cloud_transport
from tests.device.transports.conftest import Recorder, sqlite_ledger
from tests.support.services import serving

DATA = Path(__file__).parents[1] / "device" / "transports" / "data"
SECRET = "meta-app-secret"
VERIFY = "my-verify-token"
T0 = 1_717_400_000


@dataclass
class Stack:
    url: str
    meta: FakeCloudApi
    transport: CloudTransport
    recorder: Recorder
    grpc: object

    async def webhook(self, payload: object, **kwargs: str | None) -> httpx.Response:
        return await self.meta.deliver(self.url, payload, SECRET, **kwargs)


@contextlib.asynccontextmanager
async def serving_webhook(app: object) -> AsyncIterator[str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    async with serving(config) as port:
        yield f"http://127.0.0.1:{port}/webhooks/whatsapp-cloud"


@pytest.fixture
async def stack(tmp_path, nats_url) -> AsyncIterator[Stack]:
    recorder = Recorder()
    async with cloud_api() as meta:
        transport = cloud_transport(meta.url, sqlite_ledger(tmp_path / "device.db"), recorder,
                                    Sleeps())
        assert await transport.resume("dev-1", "")
        registrars, names = cloud_parts(transport)
        grpc_server, port, _ = await build_server(registrars, names, "127.0.0.1:0")
        await grpc_server.start()
        settings = GatewaySettings(device_addr=f"127.0.0.1:{port}", cloud_app_secret=SECRET,
                            cloud_verify_token=VERIFY, var_dir=tmp_path, nats_url=nats_url)
        try:
            async with serving_webhook(create_app(settings)) as url:
                yield Stack(url, meta, transport, recorder, grpc_server)
        finally:
            await grpc_server.stop(0)
            await transport.close()


async def handshake(stack: Stack, **params: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(stack.url, params=params)


async def test_the_verification_handshake_echoes_the_raw_challenge(stack):
    ok = await handshake(stack, **{"hub.mode": "subscribe", "hub.verify_token": VERIFY,
                                   "hub.challenge": "1158201444"})
    assert (ok.status_code, ok.text) == (200, "1158201444")
    assert ok.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("params", [
    {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
    {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY, "hub.challenge": "1"},
    {"hub.mode": "subscribe", "hub.challenge": "1"},
    {"hub.mode": "subscribe", "hub.verify_token": VERIFY},
])
async def test_a_bad_handshake_is_forbidden(stack, params):
    refused = await handshake(stack, **params)
    assert refused.status_code == 403 and "1" not in refused.text


async def test_signed_statuses_become_receipts_in_order_once(stack):
    await stack.transport.send("dev-1", "+1 555 0199", "Hello", "sb-m1")
    wamid = stack.meta.accepted[0]["wamid"]
    status = FakeCloudApi.status
    body = FakeCloudApi.notification(NUMBER_ID, [
        status(wamid, "read", T0 + 20, "sb-m1"), status(wamid, "sent", T0, "sb-m1"),
        status(wamid, "delivered", T0 + 10, "sb-m1")])
    answer = await stack.webhook(body)
    assert answer.status_code == 200
    assert answer.json() == {"messages": 0, "statuses": 3, "errors": 0, "receipts": 2,
                             "duplicates": 0, "failed": 0, "ignored": 1}
    assert stack.recorder.events == [
        Receipt("dev-1", "sb-m1", ReceiptKind.DELIVERED, datetime.fromtimestamp(T0 + 10, UTC)),
        Receipt("dev-1", "sb-m1", ReceiptKind.READ, datetime.fromtimestamp(T0 + 20, UTC))]
    again = await stack.webhook(body)  # Meta redelivers the same notification
    assert (again.status_code, again.json()["duplicates"]) == (200, 3)
    assert len(stack.recorder.events) == 2


async def test_out_of_order_webhooks_keep_the_highest_status(stack):
    note = FakeCloudApi.notification
    status = FakeCloudApi.status
    await stack.webhook(note(NUMBER_ID, [status("wamid.A", "read", T0 + 20, "sb-m2")]))
    late = await stack.webhook(note(NUMBER_ID, [status("wamid.A", "delivered", T0 + 10,
                                                       "sb-m2")]))
    assert late.json()["duplicates"] == 1
    assert [e.kind for e in stack.recorder.events] == [ReceiptKind.READ]


async def test_a_missing_signature_is_unauthorized(stack):
    body = FakeCloudApi.notification(NUMBER_ID, [FakeCloudApi.status("w", "read", T0, "sb-1")])
    answer = await stack.webhook(body, signature="")
    assert answer.status_code == 401 and stack.recorder.events == []


@pytest.mark.parametrize("signature", ["sha256=" + "0" * 64, "sha1=abc", "garbage",
                                       "sha256=ünïcode"])
async def test_a_wrong_signature_is_forbidden(stack, signature):
    body = FakeCloudApi.notification(NUMBER_ID, [FakeCloudApi.status("w", "read", T0, "sb-1")])
    answer = await stack.webhook(body, signature=signature)
    assert answer.status_code == 403 and stack.recorder.events == []


async def test_the_signature_is_checked_on_the_raw_body(stack):
    status = FakeCloudApi.status("w", "read", T0, "sb-1")
    raw = json.dumps(FakeCloudApi.notification(NUMBER_ID, [status]), indent=2).encode()
    signed = await stack.webhook(raw)  # signed as sent, whitespace and all
    assert signed.status_code == 200 and len(stack.recorder.events) == 1
    tampered = raw.replace(b'"read"', b'"sent"')
    refused = await stack.webhook(tampered, signature=sign(SECRET, raw))
    assert refused.status_code == 403
    compact = json.dumps(json.loads(raw)).encode()  # the same JSON, re-serialised
    assert (await stack.webhook(compact, signature=sign(SECRET, raw))).status_code == 403


async def test_a_signed_body_that_is_not_json_is_a_bad_request(stack):
    assert (await stack.webhook(b"{not json")).status_code == 400


async def test_a_signed_message_reaches_the_transport_as_inbound_once_per_delivery(stack):
    text = FakeCloudApi.user_message("text", {"body": "Yes, Tuesday works"}, "447700900456",
                                     T0, context={"from": "15550100000", "id": "wamid.OURS="})
    body = FakeCloudApi.inbound(NUMBER_ID, [text])
    answer = await stack.webhook(body)
    assert (answer.status_code, answer.json()) == \
        (200, {"messages": 1, "statuses": 0, "errors": 0, "received": 1})
    assert stack.recorder.events == [Inbound(
        "dev-1", text["id"], "447700900456", "447700900456", InboundType.TEXT,
        datetime.fromtimestamp(T0, UTC), text="Yes, Tuesday works",
        from_lid="GB.1447700900456", quoted="wamid.OURS=", from_name="Ann")]
    again = await stack.webhook(body)  # Meta redelivers: the same id, recorded once later
    assert again.status_code == 200 and stack.recorder.events[1] == stack.recorder.events[0]


async def test_received_media_is_fetched_before_meta_is_answered(stack):
    media = stack.meta.upload_from_user(b"%PDF-1.7 contract", "application/pdf")
    document = FakeCloudApi.user_message("document", {**media, "filename": "contract.pdf"},
                                         "447700900456", T0)
    answer = await stack.webhook(FakeCloudApi.inbound(NUMBER_ID, [document]))
    assert answer.status_code == 200
    [inbound] = stack.recorder.events
    assert inbound.media == InboundMedia(b"%PDF-1.7 contract", "application/pdf",
                                         "contract.pdf")


async def test_media_meta_cannot_hand_over_yet_asks_meta_to_retry(stack):
    media = stack.meta.upload_from_user(b"jpeg", "image/jpeg")
    image = FakeCloudApi.user_message("image", media, "447700900456", T0)
    stack.meta.fail_next(503, 131000, "Something went wrong", is_transient=True)
    answer = await stack.webhook(FakeCloudApi.inbound(NUMBER_ID, [image]))
    assert answer.status_code == 503 and stack.recorder.events == []
    assert (await stack.webhook(FakeCloudApi.inbound(NUMBER_ID, [image]))).status_code == 200
    assert [e.media for e in stack.recorder.events] == [InboundMedia(b"jpeg", "image/jpeg")]


@pytest.mark.parametrize("signature", ["", "sha256=" + "0" * 64])
async def test_a_message_without_a_good_signature_is_refused(stack, signature):
    text = FakeCloudApi.user_message("text", {"body": "hi"}, "447700900456", T0)
    answer = await stack.webhook(FakeCloudApi.inbound(NUMBER_ID, [text]), signature=signature)
    assert answer.status_code in (401, 403) and stack.recorder.events == []


async def test_errors_meta_reports_outside_a_status_are_recorded(stack, caplog):
    payload = json.loads((DATA / "cloud_status_webhooks.json").read_text())["webhook_errors"]
    answer = await stack.webhook(payload)
    assert (answer.status_code, answer.json()) == (200, {"messages": 0, "statuses": 0,
                                                         "errors": 1})
    assert "Meta reported an error: 131000: Message failed to send due to an unknown " \
           "error." in caplog.text


async def test_while_the_device_service_is_down_meta_is_told_to_retry(stack):
    await stack.grpc.stop(0)
    body = FakeCloudApi.notification(NUMBER_ID, [FakeCloudApi.status("w", "read", T0, "sb-1")])
    answer = await stack.webhook(body)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"


async def test_without_secrets_the_route_does_not_exist(tmp_path, nats_url):
    async with serving_webhook(create_app(GatewaySettings(var_dir=tmp_path,
                                                   nats_url=nats_url))) as url, \
            httpx.AsyncClient() as client:
        assert (await client.get(url, params={"hub.mode": "subscribe"})).status_code == 404
        assert (await client.post(url, content=b"{}")).status_code == 404
