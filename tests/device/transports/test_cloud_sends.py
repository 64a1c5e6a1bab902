"""The cloud transport against the Cloud API stand-in over HTTP: text and template sends,
each error class, retries with backoff, and requests that got no answer."""

from __future__ import annotations

from dataclasses import replace

import pytest

from launcher.natsserver import free_port
from services.device.adapters.cloud import Template
from services.device.adapters.cloud.errors import CloudUnavailableError, GraphError
from services.device.adapters.send_ledger import OutcomeUnknownError
from services.device.app.transport import (
    SessionDownError,
    SessionFailed,
    TransientTransportError,
    TransportError,
)
from services.device.domain.errors import UnsupportedByTransportError
from tests.device.transports.cloud_support import (
    NUMBER_ID,
    TOKEN,
    Sleeps,
    cloud_transport,
)

TO = "+1 555 0199"


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def transport(meta, ledger, recorder, sleeps):
    transport = cloud_transport(meta.url, ledger, recorder, sleeps)
    assert await transport.resume("dev-1", "")
    yield transport
    await transport.close()


async def test_a_text_goes_out_as_meta_documents_it(transport, meta):
    sent = await transport.send("dev-1", TO, "Hello there", "sb-m1")
    request = meta.seen[-1]
    assert (request.method, request.path) == ("POST", f"/v21.0/{NUMBER_ID}/messages")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert request.body == {"messaging_product": "whatsapp", "recipient_type": "individual",
                            "to": "15550199", "type": "text",
                            "text": {"preview_url": False, "body": "Hello there"},
                            "biz_opaque_callback_data": "sb-m1"}
    assert sent.transport_message_id == "sb-m1"
    assert (await transport.ledger.entry("sb-m1")).remote_id == meta.accepted[0]["wamid"]
    assert await transport.send("dev-1", TO, "Hello there", "sb-m1") == sent
    assert len(meta.accepted) == 1  # the resend was answered from the ledger


async def test_a_template_goes_out_with_its_language_and_parameters(transport, meta):
    template = Template("order_update", "en_US", body_parameters=("Ada", "#42"))
    await transport.send_template("dev-1", TO, template, "sb-t1")
    assert meta.seen[-1].body["template"] == {
        "name": "order_update", "language": {"code": "en_US", "policy": "deterministic"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ada"},
                                                       {"type": "text", "text": "#42"}]}]}
    assert meta.accepted[0]["biz_opaque_callback_data"] == "sb-t1"
    with pytest.raises(TransportError, match="132001 .template rejected."):
        await transport.send_template("dev-1", TO, Template("nope"), "sb-t2")
    with pytest.raises(TransportError, match="132000 .template rejected."):
        await transport.send_template("dev-1", TO, Template("order_update"), "sb-t3")


async def test_a_send_names_metas_own_template_object(transport, meta):
    template = {"name": "order_update", "language": {"code": "en_US"}, "components": [
        {"type": "header", "parameters": [{"type": "image",
                                           "image": {"link": "https://x.example/a.png"}}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Ada"},
                                        {"type": "text", "text": "#42"}]}]}
    await transport.send_template("dev-1", TO, template, "sb-t4")
    assert meta.seen[-1].body == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": "15550199",
        "type": "template", "biz_opaque_callback_data": "sb-t4",
        "template": {"name": "order_update",
                     "language": {"code": "en_US", "policy": "deterministic"},
                     "components": template["components"]}}
    assert meta.accepted[-1]["biz_opaque_callback_data"] == "sb-t4"


async def test_no_pairing_codes_and_no_number_look_ups_on_the_cloud(transport, meta):
    asked = len(meta.seen)
    with pytest.raises(UnsupportedByTransportError, match="no pairing codes") as caught:
        await transport.request_pairing_code("dev-1", "+27821234567")
    assert caught.value.code == "UNSUPPORTED_BY_TRANSPORT"
    assert await transport.on_whatsapp("dev-1", ["27821234567"]) == {"27821234567": None}
    assert len(meta.seen) == asked  # Meta was not asked


PERMANENT = [
    (400, 131026, "message undeliverable"),
    (400, 131047, "re-engagement required: more than 24 hours since the customer last "
                  "replied; send a template"),
    (400, 100, "invalid request"),
    (400, 131050, "recipient stopped marketing messages"),
    (400, 999_999, "refused"),
]


@pytest.mark.parametrize(("status", "code", "label"), PERMANENT)
async def test_a_permanent_error_fails_the_message_with_meta_s_reason(
        transport, meta, status, code, label):
    meta.fail_next(status, code, f"(#{code}) refused", details="Meta's own words")
    with pytest.raises(TransportError) as caught:
        await transport.send("dev-1", TO, "Hello", "sb-m1")
    assert not isinstance(caught.value, SessionDownError)
    assert str(caught.value) == f"WhatsApp Cloud API error {code} ({label}): Meta's own words"
    assert len(meta.seen) == 2  # the activation look-up, then one send: no retry
    assert await transport.ledger.entry("sb-m1") is None


TRANSIENT = [(500, 131000), (503, 2), (503, 131016), (502, 999_999)]


@pytest.mark.parametrize(("status", "code"), TRANSIENT)
async def test_a_transient_error_is_retried_with_backoff_then_reported_as_passing(
        transport, meta, sleeps, status, code):
    for _ in range(4):
        meta.fail_next(status, code, "(#131000) Something went wrong")
    with pytest.raises(CloudUnavailableError, match="unavailable after 4 attempt") as caught:
        await transport.send("dev-1", TO, "Hello", "sb-m1")
    assert isinstance(caught.value, TransientTransportError)  # nothing sent: tried later
    assert not isinstance(caught.value, SessionDownError)
    assert sleeps.delays == [0.5, 1.0, 2.0]
    assert len(meta.seen) == 1 + 4 and meta.accepted == []
    assert await transport.ledger.entry("sb-m1") is None


PACED = [(429, 130429, "3", 3.0), (429, 130429, "", 1.0), (400, 131056, "", 6.0),
         (400, 131056, "20", 20.0), (400, 4, "", 1.0), (400, 80007, "", 1.0),
         (400, 613, "", 1.0), (429, 999_999, "", 1.0)]


@pytest.mark.parametrize(("status", "code", "retry_after", "wait"), PACED)
async def test_a_rate_limit_goes_back_to_the_dispatcher_with_meta_s_pacing(
        transport, meta, sleeps, status, code, retry_after, wait):
    meta.fail_next(status, code, "(#130429) Rate limit hit", retry_after=retry_after)
    with pytest.raises(CloudUnavailableError, match=f"rate limited: .*error {code}") as caught:
        await transport.send("dev-1", TO, "Hello", "sb-m1")
    assert caught.value.retry_after == wait  # the dispatcher waits at least this long
    assert sleeps.delays == [] and len(meta.seen) == 2  # not hammered here
    assert await transport.ledger.entry("sb-m1") is None  # nothing sent: may go later
    await transport.send("dev-1", TO, "Hello", "sb-m1")
    assert len(meta.accepted) == 1


async def test_retries_then_success(transport, meta, sleeps):
    meta.fail_next(503, 131016, "Service unavailable", is_transient=True)
    meta.fail_next(500, 131000, "Something went wrong")
    sent = await transport.send("dev-1", TO, "Hello", "sb-m1")
    assert sleeps.delays == [0.5, 1.0]
    assert len(meta.accepted) == 1 and sent.transport_message_id == "sb-m1"


async def test_retries_stop_before_they_outlast_the_budget(meta, ledger, recorder, sleeps):
    transport = cloud_transport(meta.url, ledger, recorder, sleeps)
    transport.api.policy = replace(transport.api.policy, budget=5.0)  # timeout 2 s a try
    assert await transport.resume("dev-1", "")
    try:
        for _ in range(4):
            meta.fail_next(503, 131016, "Service unavailable")
        with pytest.raises(CloudUnavailableError, match="after 3 attempt"):
            await transport.send("dev-1", TO, "Hello", "sb-m1")
        # a fourth try (after 0.5 + 1 s slept, 2 s more, up to 2 s to answer) would not fit
        assert sleeps.delays == [0.5, 1.0]
    finally:
        await transport.close()


HALTING = [(401, 190, "access token rejected"), (403, 10, "permission denied"),
           (400, 368, "sender restricted"), (400, 131031, "sender restricted"),
           (400, 131048, "sender restricted"), (400, 131042, "business payment issue")]


@pytest.mark.parametrize(("status", "code", "label"), HALTING)
async def test_a_halting_error_stops_the_sender_and_hands_the_message_back(
        transport, meta, recorder, status, code, label):
    meta.fail_next(status, code, "(#190) Error validating access token")
    with pytest.raises(SessionDownError, match=f"halted: WhatsApp Cloud API error {code}"):
        await transport.send("dev-1", TO, "Hello", "sb-m1")
    [failed] = recorder.events
    assert isinstance(failed, SessionFailed) and failed.device_id == "dev-1"
    assert f"error {code} ({label})" in failed.reason
    with pytest.raises(SessionDownError):
        await transport.send("dev-1", TO, "Hello", "sb-m2")
    assert len(meta.seen) == 2  # the halted sender sends nothing more
    assert await transport.resume("dev-1", "")  # once Meta takes it again, it is back
    await transport.send("dev-1", TO, "Hello", "sb-m1")


async def test_an_unreachable_api_is_retried_then_reported_as_passing(ledger, recorder, sleeps):
    transport = cloud_transport(f"http://127.0.0.1:{free_port()}", ledger, recorder, sleeps)
    transport._up.add("dev-1")  # activated earlier; the API has gone away since
    try:
        with pytest.raises(CloudUnavailableError, match="ConnectError"):
            await transport.send("dev-1", TO, "Hello", "sb-m1")
        assert sleeps.delays == [0.5, 1.0, 2.0]
        assert await transport.ledger.entry("sb-m1") is None  # may be sent later
        assert not await transport.resume("dev-1", "")
    finally:
        await transport.close()


async def test_a_request_without_an_answer_is_never_sent_again(transport, meta, sleeps):
    meta.hang_up_next()  # on the kept-alive connection: taken for a stale one, tried again
    meta.hang_up_next()  # on a fresh connection: the outcome is unknown
    with pytest.raises(OutcomeUnknownError, match="not sent again"):
        await transport.send("dev-1", TO, "Hello", "sb-m1")
    with pytest.raises(OutcomeUnknownError):
        await transport.send("dev-1", TO, "Hello", "sb-m1")
    assert len(meta.seen) == 3 and sleeps.delays == []
    await transport.send("dev-1", TO, "Another", "sb-m2")  # the connection is fine again
    assert [m["biz_opaque_callback_data"] for m in meta.accepted] == ["sb-m2"]


async def test_a_stale_kept_alive_connection_is_tried_once_more(transport, meta, sleeps):
    await transport.send("dev-1", TO, "First", "sb-m1")
    meta.hang_up_next()  # the far side closed the idle connection as we reused it
    await transport.send("dev-1", TO, "Second", "sb-m2")
    assert [m["biz_opaque_callback_data"] for m in meta.accepted] == ["sb-m1", "sb-m2"]
    assert len(meta.seen) == 4 and sleeps.delays == []


@pytest.mark.parametrize(("body", "code"), [
    ({"to": "15550199", "type": "text", "text": {"body": "x"}}, 100),
    ({"messaging_product": "whatsapp", "to": "15550199", "type": "text", "text": {}}, 131008),
    ({"messaging_product": "whatsapp", "to": "call me", "type": "text",
      "text": {"body": "x"}}, 131009),
])
async def test_the_stand_in_refuses_what_meta_refuses(transport, body, code):
    with pytest.raises(GraphError) as caught:
        await transport.api.send_message(NUMBER_ID, body)
    assert (caught.value.http_status, caught.value.code) == (400, code)


async def test_an_inactive_device_sends_nothing(transport, meta):
    with pytest.raises(SessionDownError):
        await transport.send("dev-2", TO, "Hello", "sb-m1")
    assert len(meta.seen) == 1
