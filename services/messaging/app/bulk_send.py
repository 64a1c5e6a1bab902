"""The bulk send: one body to many numbers, one reservation and one append for all; and
the job it makes, counted by its messages' statuses."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from kernel.foreground import FOREGROUND
from services.messaging.app.charging import charge_and_queue, usable_pool
from services.messaging.app.dependencies import CREDIT, Charge, MessagingDeps
from services.messaging.app.templates import message_text
from services.messaging.domain import rules
from services.messaging.domain.errors import BulkJobNotFoundError
from services.messaging.domain.events import Media
from services.messaging.domain.lifecycle import BulkJob
from services.messaging.domain.model import Message, bulk_job_id, message_ids


@dataclass(frozen=True)
class SendBulkMessage:
    user_id: int
    numbers: list[str]
    message: str
    template_id: int = 0
    variables: dict[str, str] = field(default_factory=dict)
    id_seed: str = ""  # see model.message_ids
    media: Media | None = None  # the same file to every number; `message` its caption


@dataclass(frozen=True)
class BulkAccepted:
    queue_ids: list[str]
    remaining_credits: int
    job_id: str


async def send_bulk_message(cmd: SendBulkMessage, deps: MessagingDeps) -> BulkAccepted:
    """Validate every number and the body first; then reserve, queue, or release all.
    A seeded batch already queued (all of it: the batch is one append) was queued by an
    earlier run of this same request. While it runs, the process's lingering consumers
    wait for it (kernel/foreground.py)."""
    with FOREGROUND.answering():
        return await _send_bulk_message(cmd, deps)


async def _send_bulk_message(cmd: SendBulkMessage, deps: MessagingDeps) -> BulkAccepted:
    body = rules.media_body(await message_text(
        cmd.user_id, cmd.message, cmd.template_id, cmd.variables, deps.templates,
        deps.variable_limits), cmd.media)
    now = deps.clock()
    batch = []
    ids = message_ids(cmd.id_seed, deps.new_id)
    job_id = ""
    for number in rules.bulk_recipients(cmd.numbers):
        message = Message(ids())
        job_id = job_id or bulk_job_id(message.id)
        message.queue(cmd.user_id, number, body, now, media=cmd.media, bulk_job_id=job_id)
        batch.append(message)
    queue_ids = [m.id for m in batch]
    await usable_pool(deps.pool, deps.messages, queue_ids[0], bool(cmd.id_seed))
    remaining = await asyncio.shield(charge_and_queue(
        deps.reservations, Charge(CREDIT, str(cmd.user_id), queue_ids),
        reserve=lambda: deps.billing.reserve(cmd.user_id, queue_ids),
        queue=lambda: deps.messages.add_many(batch), seeded=bool(cmd.id_seed),
        unqueued="messages could not be queued"))
    return BulkAccepted(queue_ids, remaining, job_id)


@dataclass(frozen=True)
class GetBulkJob:
    user_id: int
    job_id: str


async def get_bulk_job(query: GetBulkJob, deps: MessagingDeps) -> BulkJob:
    """The job's counts from the history view; another user's job is not found."""
    job = await deps.history.bulk_job(query.user_id, query.job_id)
    if job is None:
        raise BulkJobNotFoundError(query.job_id)
    return job
