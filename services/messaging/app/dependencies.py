"""What the handlers need from outside, as small interfaces the adapters implement, and
`MessagingDeps`, the one object that carries them: built once in bootstrap.py, held by
the servicer, and passed to every handler as `handle(cmd, deps)`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from kernel.aggregate import Aggregate
from kernel.clock import Clock, utcnow
from services.messaging.domain.events import Media
from services.messaging.domain.idempotency import KeyRecord, Outcome
from services.messaging.domain.inbox import InboundEntry
from services.messaging.domain.lifecycle import BulkJob, HistoryEntry, Status
from services.messaging.domain.model import Message, new_message_id
from services.messaging.domain.templates import TemplateBook, TemplateIds, VariableLimits
from services.messaging.domain.webhook import WebhookRegistered


@dataclass(frozen=True)
class PoolStatus:
    available_devices: int
    total_devices: int
    queue_depth: int
    queue_type: str
    linked_devices: int = 0
    transport: str = ""

    @property
    def empty(self) -> bool:
        """No pool device of the transport in use is linked: a pool message could never
        leave. A device service that does not name its transport (one from before it
        counted linked devices, during an upgrade) is taken at its word."""
        return bool(self.transport) and self.linked_devices == 0


@dataclass(frozen=True)
class QuotaUsage:
    """An instance's quota after a reservation."""

    remaining: int
    used: int
    total: int


CREDIT, QUOTA = "credit", "quota"  # what a send reserves: a user's credits, an instance's quota


@dataclass(frozen=True)
class Charge:
    """One reservation a send makes: a unit of `kind` per message, held for `owner` (the
    user id for CREDIT, the instance id for QUOTA)."""

    kind: str
    owner: str
    message_ids: list[str]


@dataclass(frozen=True)
class Note:
    """A charge as the reservation journal keeps it, from before it is made until it is
    settled (services/messaging/adapters/reservation_journal.py)."""

    note_id: str
    kind: str
    owner: str
    message_ids: list[str]
    process: str
    noted_at: datetime


@dataclass(frozen=True)
class HistoryQuery:
    user_id: int
    offset: int
    limit: int
    status: Status | None = None
    number: str = ""
    since: datetime | None = None
    until: datetime | None = None


class Messages(Protocol):
    async def add(self, message: Message) -> None:
        """Save a new message's events; ConcurrencyError if its stream already exists."""

    async def add_many(self, messages: list[Message]) -> None:
        """Save new messages' events atomically; ConcurrencyError if any stream exists."""

    async def queued(self, message_id: str) -> bool:
        """The message's stream exists (it was queued)."""


class Billing(Protocol):
    async def reserve(self, user_id: int, message_ids: Sequence[str]) -> int:
        """Reserve one credit per message (idempotent by id); the credits remaining."""

    async def release(self, user_id: int, message_ids: Sequence[str], reason: str) -> None:
        """Give back reservations that will not be used."""


class Quota(Protocol):
    async def reserve(self, instance_id: str, user_id: int,
                      message_ids: Sequence[str]) -> QuotaUsage:
        """Reserve one quota unit per message (idempotent by id); QUOTA_EXCEEDED if spent."""

    async def release(self, instance_id: str, message_ids: Sequence[str],
                      reason: str) -> None:
        """Give back reservations whose messages were never queued."""


class Reservations(Protocol):
    """The one way a send's reservation is kept track of and given back."""

    async def note(self, charge: Charge) -> Note:
        """Note a charge in the store before it is made, so that a crash strands nothing."""

    async def forget(self, note: Note) -> None:
        """The charge was refused: nothing is held."""

    async def give_back(self, note: Note, reason: str) -> None:
        """Release the note's messages, which were not queued: at once if billing and the
        store answer, else on a later sweep of the journal. Never raises."""


class Handovers(Protocol):
    """Hears when a message is handed to WhatsApp (adapters/handovers.py)."""

    async def expect(self, message_id: str) -> asyncio.Future[HistoryEntry]:
        """A future of the message's Sent or Failed fact, listening once this returns."""

    async def forget(self, message_id: str) -> None: ...


class InstanceDevices(Protocol):
    async def connected(self, instance_id: str) -> bool: ...

    async def last_error(self, instance_id: str) -> str:
        """What the instance's device last reported going wrong; "" if nothing."""


class DevicePool(Protocol):
    async def status(self) -> PoolStatus: ...


class HistoryReader(Protocol):
    async def entry(self, queue_id: str) -> HistoryEntry | None: ...

    async def search(self, query: HistoryQuery) -> tuple[list[HistoryEntry], int]:
        """One page of a user's entries, newest first, and how many there are in all."""

    async def bulk_job(self, user_id: int, job_id: str) -> BulkJob | None:
        """The user's bulk job with its messages counted by status; None if none."""


class Templates(Protocol):
    async def book(self, user_id: int) -> TemplateBook: ...

    async def ids(self) -> TemplateIds: ...

    async def save(self, *aggregates: Aggregate) -> None: ...


class IdempotencyRecords(Protocol):
    """Idempotency-Key records (adapters/idempotency.py)."""

    async def claim(self, scope: str, key: str, fingerprint: str,
                    now: datetime) -> tuple[Outcome, KeyRecord | None]: ...

    async def save(self, scope: str, key: str, fingerprint: str, status_code: int,
                   body: bytes) -> None: ...

    async def release(self, scope: str, key: str, fingerprint: str) -> None: ...


class Webhooks(Protocol):
    """Users' webhooks and their deliveries (adapters/webhook_store.py)."""

    async def register(self, user_id: int, url: str, secret: str) -> WebhookRegistered: ...

    async def listing(self, user_id: int) -> list[Any]: ...

    async def remove(self, user_id: int, webhook_id: str) -> None: ...

    async def deliveries(self, user_id: int, webhook_id: str, limit: int) -> list[Any]: ...


class MediaFetch(Protocol):
    """A send-media's file from its URL, checked and stored (adapters/media_fetch.py)."""

    async def fetch(self, url: str, filename: str) -> Media: ...


class InboxReader(Protocol):
    """The inbox view (adapters/inbox_view.py)."""

    async def get(self, message_id: str) -> InboundEntry | None: ...

    async def search(self, user_id: int, *, offset: int, limit: int, number: str = "",
                     since: datetime | None = None, device_id: str = ""
                     ) -> tuple[list[InboundEntry], int]: ...


@dataclass(frozen=True)
class MessagingDeps:
    """Everything the messaging handlers and the servicer take."""

    messages: Messages
    billing: Billing
    quota: Quota
    reservations: Reservations
    pool: DevicePool
    devices: InstanceDevices
    history: HistoryReader
    templates: Templates
    idempotency: IdempotencyRecords
    handovers: Handovers
    webhooks: Webhooks
    media: MediaFetch
    handover_wait: float = 10.0  # seconds an Instance API send waits to be handed over
    variable_limits: VariableLimits = VariableLimits()
    new_id: Callable[[], str] = new_message_id
    clock: Clock = utcnow
    inbox: InboxReader | None = None  # received messages (the inbox view)
