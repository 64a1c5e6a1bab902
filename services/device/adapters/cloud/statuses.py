"""Cloud API status webhooks, read as receipts.

Each status names the wamid and, in `biz_opaque_callback_data`, our transport message id
(the ledger maps a wamid back when that is missing). `delivered` and `read` (`played`
counts as read) become Receipts; `failed` (Meta took the message, then could not deliver
it: 131026 undeliverable, 131047 re-engagement, 130472 experiment, …) becomes
Undelivered, with Meta's code and words as the reason: the message ends Failed and its
charge is refunded. Meta redelivers webhooks and does not keep their order, so a status
at or below the highest one already seen for the message is dropped as a duplicate
(sent < delivered < read; failed above all), and a batch is taken in timestamp order; a
duplicate that slips past (this memory is bounded and per process) changes nothing
either, as the message's dispatch stream records a failure once. `sent` is recorded
from Meta's answer to the send already.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from kernel.clock import Clock
from services.device.adapters.cloud.errors import failure_reason
from services.device.adapters.send_ledger import SendLedger
from services.device.app.transport import Receipt, ReceiptKind, TransportSink, Undelivered

log = logging.getLogger(__name__)

LEVELS = {"sent": 1, "delivered": 2, "read": 3, "played": 3, "failed": 9}
RECEIPT_KINDS = {"delivered": ReceiptKind.DELIVERED, "read": ReceiptKind.READ,
                 "played": ReceiptKind.READ}


@dataclass(frozen=True)
class CloudStatusError:
    code: int
    title: str = ""
    message: str = ""
    details: str = ""


@dataclass(frozen=True)
class CloudStatus:
    """One `statuses[]` entry of a `messages` webhook, with its `metadata.phone_number_id`."""

    phone_number_id: str
    wamid: str
    status: str
    timestamp: int
    recipient_id: str = ""
    tracker: str = ""  # biz_opaque_callback_data: our transport message id
    errors: tuple[CloudStatusError, ...] = ()


@dataclass
class StatusTally:
    receipts: int = 0
    duplicates: int = 0
    failed: int = 0
    ignored: int = 0


class StatusLevels:
    """The highest status seen per message, for the most recent `size` messages."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._levels: OrderedDict[str, int] = OrderedDict()

    def get(self, key: str) -> int:
        return self._levels.get(key, 0)

    def raise_to(self, key: str, level: int) -> None:
        self._levels[key] = max(level, self._levels.get(key, 0))
        self._levels.move_to_end(key)
        while len(self._levels) > self.size:
            self._levels.popitem(last=False)


class StatusReceipts:
    def __init__(self, ledger: SendLedger, devices_by_number: Mapping[str, str],
                 emit: TransportSink, clock: Clock) -> None:
        self.ledger = ledger
        self.devices_by_number = devices_by_number
        self.emit = emit
        self.clock = clock
        self.levels = StatusLevels()

    async def accept(self, statuses: Sequence[CloudStatus]) -> StatusTally:
        tally = StatusTally()
        for status in sorted(statuses, key=lambda s: (s.timestamp, LEVELS.get(s.status, 0))):
            await self._accept(status, tally)
        return tally

    async def _accept(self, status: CloudStatus, tally: StatusTally) -> None:
        level = LEVELS.get(status.status)
        key = status.tracker or await self._tracker_of(status.wamid)
        if level is None or not key:
            tally.ignored += 1
            return
        if self.levels.get(key) >= level:
            tally.duplicates += 1
            return
        kind = RECEIPT_KINDS.get(status.status)
        device_id = self.devices_by_number.get(status.phone_number_id, "")
        if kind is not None:
            await self.emit(Receipt(device_id, key, kind, self._at(status)))
            tally.receipts += 1
        elif status.status == "failed":
            reason = _failure(status.errors)
            log.info("cloud: message %s failed after it was accepted: %s", key, reason)
            await self.emit(Undelivered(device_id, key, reason))
            tally.failed += 1
        else:
            tally.ignored += 1
        self.levels.raise_to(key, level)  # only once recorded: a redelivery then retries

    async def _tracker_of(self, wamid: str) -> str:
        return (await self.ledger.transport_ids([wamid])).get(wamid, "") if wamid else ""

    def _at(self, status: CloudStatus) -> datetime:
        return datetime.fromtimestamp(status.timestamp, UTC) if status.timestamp \
            else self.clock()


def _failure(errors: Sequence[CloudStatusError]) -> str:
    """The reason shown to the sender: Meta's first error, code and words."""
    if not errors:
        return failure_reason(0, "WhatsApp reported the message failed, without a reason")
    first = errors[0]
    return failure_reason(first.code, first.details or first.message or first.title)
