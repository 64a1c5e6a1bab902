"""The Dispatch aggregate: one queued message's way out through a device.

Claimed once (MessageDispatched, or MessageFailed when no device can take it), then
sent, delivered and read. A claimed message whose send failed for a passing reason
counts the attempt (SendAttemptFailed) and stays claimed for the next try; the last
allowed attempt fails it instead. Receipts form a lattice, sent < delivered < read: a receipt
at or below the current level changes nothing, and one that skips a level first
records the level it implies, so the stream always reads in lifecycle order. Failed is
above them all and final: the far side may fail a message it had taken (Meta's
`failed` status, which may even arrive after `delivered` or `read`), once.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum

from kernel.aggregate import Aggregate
from services.device.domain import errors
from services.device.domain.events import (
    MessageDelivered,
    MessageDispatched,
    MessageFailed,
    MessageRead,
    MessageSent,
    SendAttemptFailed,
)

TRANSPORT_ID_PREFIX = "sb-"


def transport_message_id_for(message_id: str) -> str:
    """The id the far side sees: derived, so a resend reuses it and is deduplicated."""
    return TRANSPORT_ID_PREFIX + message_id


def message_id_from(transport_message_id: str) -> str | None:
    if not transport_message_id.startswith(TRANSPORT_ID_PREFIX):
        return None
    return transport_message_id[len(TRANSPORT_ID_PREFIX):]


class DispatchStatus(IntEnum):
    NEW = 0
    DISPATCHED = 1
    SENT = 2
    DELIVERED = 3
    READ = 4
    FAILED = 9


class Dispatch(Aggregate):
    stream_prefix = "dispatch"
    immutable_state = True  # strs, ints and a status: the repository's copies are shallow

    def __init__(self, message_id: str) -> None:
        super().__init__(message_id)
        self.status = DispatchStatus.NEW
        self.device_id = ""
        self.transport_message_id = ""
        self.user_id = 0
        self.reason = ""
        self.failed_attempts = 0

    @property
    def is_settled(self) -> bool:
        """Sent (or further) or failed: nothing is left for the dispatcher to do."""
        return self.status >= DispatchStatus.SENT

    @property
    def is_claimed_unsent(self) -> bool:
        return self.status is DispatchStatus.DISPATCHED

    # Commands

    def claim(self, device_id: str, user_id: int) -> None:
        if self.status is not DispatchStatus.NEW:
            raise errors.MessageAlreadyClaimedError(f"message {self.id} is already claimed",
                                                    message_id=self.id)
        self._record(MessageDispatched(self.id, device_id, transport_message_id_for(self.id),
                                       user_id))

    def fail(self, reason: str, user_id: int = 0) -> None:
        """Only before it was sent: a later, better fact is never overwritten."""
        if self.status in (DispatchStatus.NEW, DispatchStatus.DISPATCHED):
            self._record(MessageFailed(self.id, reason, self.user_id or user_id))

    def undeliverable(self, reason: str) -> None:
        """The far side failed the message after taking it: Failed, unless it already is
        (or was never claimed)."""
        if DispatchStatus.DISPATCHED <= self.status < DispatchStatus.FAILED:
            self._record(MessageFailed(self.id, reason, self.user_id))

    def attempt_failed(self, device_id: str, reason: str, attempts_allowed: int) -> None:
        """A transient failure of a claimed, unsent message: counted, or, when it was the
        last attempt allowed, the message fails with the reason."""
        if self.status is not DispatchStatus.DISPATCHED:
            return
        attempt = self.failed_attempts + 1
        if attempt >= attempts_allowed:
            self.fail(f"{reason} (gave up after {attempt} attempts)")
        else:
            self._record(SendAttemptFailed(self.id, device_id, attempt, reason, self.user_id))

    def mark_sent(self, device_id: str, at: datetime) -> None:
        if self.status is DispatchStatus.NEW:
            raise errors.MessageNotClaimedError(f"message {self.id} was never claimed",
                                                message_id=self.id)
        if self.status is DispatchStatus.DISPATCHED:
            self._record(MessageSent(self.id, device_id, self.transport_message_id, at,
                                     self.user_id))

    def mark_delivered(self, at: datetime) -> None:
        if self._receipt_applies(DispatchStatus.DELIVERED):
            self.mark_sent(self.device_id, at)
            self._record(MessageDelivered(self.id, self.transport_message_id, at, self.user_id))

    def mark_read(self, at: datetime) -> None:
        if self._receipt_applies(DispatchStatus.READ):
            self.mark_delivered(at)
            self._record(MessageRead(self.id, self.transport_message_id, at, self.user_id))

    def _receipt_applies(self, level: DispatchStatus) -> bool:
        return DispatchStatus.DISPATCHED <= self.status < level

    # Events

    def when_MessageDispatched(self, e: MessageDispatched) -> None:
        self.status = DispatchStatus.DISPATCHED
        self.device_id, self.user_id = e.device_id, e.user_id
        self.transport_message_id = e.transport_message_id

    def when_SendAttemptFailed(self, e: SendAttemptFailed) -> None:
        self.failed_attempts = e.attempt

    def when_MessageSent(self, e: MessageSent) -> None:
        self.status, self.device_id = DispatchStatus.SENT, e.device_id

    def when_MessageDelivered(self, e: MessageDelivered) -> None:
        self.status = DispatchStatus.DELIVERED

    def when_MessageRead(self, e: MessageRead) -> None:
        self.status = DispatchStatus.READ

    def when_MessageFailed(self, e: MessageFailed) -> None:
        self.status, self.reason = DispatchStatus.FAILED, e.reason
        self.user_id = self.user_id or e.user_id
