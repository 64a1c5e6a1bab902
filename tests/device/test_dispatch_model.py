"""The Dispatch aggregate: one claim, then the receipt lattice sent < delivered < read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.device.domain import errors
from services.device.domain.dispatch import (
    Dispatch,
    DispatchStatus,
    message_id_from,
    transport_message_id_for,
)

AT = datetime(2025, 1, 1, tzinfo=UTC)


def types(dispatch: Dispatch) -> list[str]:
    return [type(e).__name__ for e in dispatch.pending]


def claimed() -> Dispatch:
    dispatch = Dispatch("m1")
    dispatch.claim("pool-1", 42)
    return dispatch


def test_transport_message_id_is_derived_and_reversible():
    assert transport_message_id_for("m1") == transport_message_id_for("m1") == "sb-m1"
    assert message_id_from("sb-m1") == "m1"
    assert message_id_from("3EB0FOREIGN") is None


def test_claim_happens_once():
    dispatch = claimed()
    assert dispatch.pending[0].transport_message_id == "sb-m1"
    with pytest.raises(errors.MessageAlreadyClaimedError):
        dispatch.claim("pool-2", 42)


def test_sent_needs_a_claim():
    with pytest.raises(errors.MessageNotClaimedError):
        Dispatch("m1").mark_sent("pool-1", AT)


def test_in_order_lifecycle():
    dispatch = claimed()
    dispatch.mark_sent("pool-1", AT)
    dispatch.mark_delivered(AT)
    dispatch.mark_read(AT)
    assert types(dispatch) == ["MessageDispatched", "MessageSent", "MessageDelivered",
                               "MessageRead"]
    assert all(e.user_id == 42 for e in dispatch.pending)


def test_duplicate_receipts_change_nothing():
    dispatch = claimed()
    dispatch.mark_sent("pool-1", AT)
    dispatch.mark_read(AT)
    dispatch.pending.clear()
    dispatch.mark_sent("pool-1", AT)
    dispatch.mark_delivered(AT)
    dispatch.mark_read(AT)
    assert dispatch.pending == []
    assert dispatch.status is DispatchStatus.READ


def test_a_receipt_that_skips_levels_records_the_levels_it_implies():
    dispatch = claimed()
    dispatch.mark_read(AT)
    assert types(dispatch) == ["MessageDispatched", "MessageSent", "MessageDelivered",
                               "MessageRead"]
    assert dispatch.pending[1].device_id == "pool-1"


def test_failure_only_before_sent_and_final():
    dispatch = claimed()
    dispatch.fail("no route")
    dispatch.mark_sent("pool-1", AT)
    dispatch.mark_read(AT)
    assert types(dispatch) == ["MessageDispatched", "MessageFailed"]
    sent = claimed()
    sent.mark_sent("pool-1", AT)
    sent.fail("late")
    assert types(sent) == ["MessageDispatched", "MessageSent"]


def test_failure_without_claim_carries_the_user():
    dispatch = Dispatch("m1")
    dispatch.fail("instance i1 is not connected", 42)
    assert dispatch.pending[0].user_id == 42 and dispatch.is_settled


def test_receipts_for_unclaimed_messages_are_ignored():
    dispatch = Dispatch("m1")
    dispatch.mark_delivered(AT)
    dispatch.mark_read(AT)
    assert dispatch.pending == []
