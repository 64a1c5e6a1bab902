"""The cloud transport: activating a configured number, and status webhooks read as
receipts (ordered, deduplicated, tolerant of out-of-order delivery)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.device.adapters.cloud import CloudStatus, CloudStatusError
from services.device.adapters.cloud.transport import (
    CloudActivationError,
    CloudNotConfiguredError,
)
from services.device.app.transport import Linked, Receipt, ReceiptKind, Trouble, Undelivered
from tests.device.transports.cloud_support import (
    NUMBER_ID,
    TOKEN,
    Sleeps,
    cloud_transport,
)

T0 = 1_717_400_000


@pytest.fixture
async def transport(meta, ledger, recorder):
    transport = cloud_transport(meta.url, ledger, recorder, Sleeps())
    yield transport
    await transport.close()


def status(state: str, at: int, tracker: str = "", wamid: str = "wamid.X",
           number: str = NUMBER_ID, **extra: object) -> CloudStatus:
    return CloudStatus(number, wamid, state, at, "15550199", tracker, **extra)


async def test_pairing_activates_the_configured_number(transport, meta, recorder):
    pairing = await transport.start_pairing("dev-1")
    assert pairing.pairing_ref == "https://wa.me/15550100000"
    left = pairing.expires_at - datetime.now(UTC)
    assert timedelta(seconds=55) < left <= timedelta(seconds=60)
    request = meta.seen[0]
    assert (request.method, request.path) == \
        ("GET", f"/v21.0/{NUMBER_ID}?fields=display_phone_number%2Cverified_name")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert await recorder.wait_for(lambda e: isinstance(e, Linked)) == \
        Linked("dev-1", "", "15550100000")


async def test_an_unconfigured_device_cannot_be_activated(transport, meta):
    with pytest.raises(CloudNotConfiguredError, match="no Cloud API phone number id") as caught:
        await transport.start_pairing("dev-9")
    assert caught.value.code == "INVALID_REQUEST" and meta.seen == []
    assert not await transport.resume("dev-9", "")


async def test_a_rejected_token_refuses_activation(meta, ledger, recorder):
    transport = cloud_transport(meta.url, ledger, recorder, Sleeps(), token="expired")
    try:
        with pytest.raises(CloudActivationError, match="error 190 .access token rejected.") \
                as caught:
            await transport.start_pairing("dev-1")
        assert caught.value.code == "SERVICE_UNAVAILABLE"
        assert not await transport.resume("dev-1", "")
        [trouble] = recorder.events  # only why, as the device's last error
        assert isinstance(trouble, Trouble) and trouble.device_id == "dev-1"
        assert trouble.reason == f"Cloud API: {caught.value.message}"
    finally:
        await transport.close()


async def test_statuses_become_receipts_in_order_once_each(transport, recorder):
    tally = await transport.accept_statuses([
        status("read", T0 + 20, "sb-m1"),
        status("sent", T0, "sb-m1"),
        status("delivered", T0 + 10, "sb-m1"),
        status("delivered", T0 + 10, "sb-m1"),  # Meta redelivers
    ])
    assert recorder.events == [
        Receipt("dev-1", "sb-m1", ReceiptKind.DELIVERED, datetime.fromtimestamp(T0 + 10, UTC)),
        Receipt("dev-1", "sb-m1", ReceiptKind.READ, datetime.fromtimestamp(T0 + 20, UTC))]
    assert (tally.receipts, tally.duplicates, tally.ignored) == (2, 1, 1)
    again = await transport.accept_statuses([status("delivered", T0 + 10, "sb-m1"),
                                             status("read", T0 + 20, "sb-m1")])
    assert (again.receipts, again.duplicates) == (0, 2) and len(recorder.events) == 2


async def test_a_status_older_than_one_already_seen_is_dropped(transport, recorder):
    await transport.accept_statuses([status("read", T0 + 20, "sb-m1")])
    late = await transport.accept_statuses([status("delivered", T0 + 10, "sb-m1")])
    assert late.duplicates == 1
    assert [e.kind for e in recorder.events] == [ReceiptKind.READ]  # read implies delivered


async def test_a_status_without_our_tracker_is_found_through_the_ledger(transport, meta,
                                                                       recorder):
    assert await transport.resume("dev-2", "")
    await transport.send("dev-2", "+1 555 0199", "Hello", "sb-m7")
    wamid = meta.accepted[0]["wamid"]
    tally = await transport.accept_statuses([
        status("delivered", T0, wamid=wamid, number="109876543299"),
        status("delivered", T0, wamid="wamid.NOT-OURS"),
        status("deleted", T0, "sb-m7")])
    assert (tally.receipts, tally.ignored) == (1, 2)
    [receipt] = recorder.events
    assert (receipt.device_id, receipt.transport_message_id) == ("dev-2", "sb-m7")


async def test_a_failure_after_acceptance_is_reported_once_whatever_the_order(transport,
                                                                               recorder):
    failed = status("failed", T0 + 30, "sb-m1", errors=(
        CloudStatusError(131026, "Message undeliverable", details="not on WhatsApp"),))
    early = await transport.accept_statuses([status("delivered", T0 + 10, "sb-m1"),
                                             status("read", T0 + 20, "sb-m1")])
    tally = await transport.accept_statuses([failed, failed, status("delivered", T0 + 5,
                                                                      "sb-m1")])
    assert (early.receipts, tally.failed, tally.duplicates) == (2, 1, 2)
    assert recorder.of(Undelivered) == [Undelivered(
        "dev-1", "sb-m1", "WhatsApp Cloud API error 131026 (message undeliverable): "
                          "not on WhatsApp")]
