"""The messaging service's one composition root, used by `__main__` and the tests."""

from __future__ import annotations

from collections.abc import Callable

from kernel import rpc
from kernel.groupcommit import GroupCommit
from kernel.host import Infra, Parts
from kernel.projection import ProjectionRunner
from services.messaging.adapters.billing import BillingClient
from services.messaging.adapters.codec import messaging_codec
from services.messaging.adapters.devices import DevicePoolClient
from services.messaging.adapters.handovers import Handovers
from services.messaging.adapters.history_projection import HISTORY, HistoryProjection
from services.messaging.adapters.history_view import HistoryView
from services.messaging.adapters.idempotency import IdempotencyKeys, idempotency_metadata
from services.messaging.adapters.inbox_projection import INBOX, InboxProjection
from services.messaging.adapters.inbox_view import InboxView
from services.messaging.adapters.messages import MessageStore
from services.messaging.adapters.quota import InstanceDevicesClient, QuotaClient
from services.messaging.adapters.reservation_journal import (
    NoteSettler,
    ReservationJournal,
    journal_metadata,
)
from services.messaging.adapters.templates import TemplateStore
from services.messaging.adapters.webhook_wiring import media_fetcher, webhook_parts
from services.messaging.app.dependencies import MessagingDeps
from services.messaging.domain.model import new_message_id
from services.messaging.domain.templates import VariableLimits
from services.messaging.ports.access import ACCESS
from services.messaging.ports.grpc import SERVICE_NAME, MessagingServicer, registrar
from services.messaging.ports.watch_stream import StatusWatch
from services.messaging.settings import MessagingSettings


async def build(infra: Infra[MessagingSettings], *, history_name: str = HISTORY,
                new_id: Callable[[], str] = new_message_id) -> Parts:
    """`history_name` names the projection's durable consumers; `new_id` mints ids."""
    settings = infra.settings
    billing_channel = rpc.channel(settings.service_addr("billing"), settings, "messaging")
    device_channel = rpc.channel(settings.service_addr("device"), settings, "messaging")
    projection = HistoryProjection(history_name)
    inbox = InboxProjection(history_name.replace(HISTORY, INBOX, 1))
    group = GroupCommit(infra.store)  # concurrent sends share transactions
    billing, quota = BillingClient(billing_channel), QuotaClient(billing_channel)
    journal = ReservationJournal(infra.engine, settings.reservation_note_grace_seconds, group)
    reservations = NoteSettler(journal, billing, quota)
    # messaging webhooks: store, tables, fan-out consumer and delivery worker
    hooks = webhook_parts(infra, history_name.replace(HISTORY, "webhooks", 1))
    deps = MessagingDeps(
        messages=MessageStore(infra.store, group), billing=billing, quota=quota,
        reservations=reservations, pool=DevicePoolClient(device_channel),
        devices=InstanceDevicesClient(device_channel), history=HistoryView(infra.engine),
        templates=TemplateStore(infra.store), idempotency=IdempotencyKeys(infra.engine),
        handovers=Handovers(infra.nc), handover_wait=settings.instance_send_wait_seconds,
        webhooks=hooks.store, media=media_fetcher(settings),
        variable_limits=VariableLimits(settings.template_max_variables,
                                       settings.template_max_variable_chars),
        new_id=new_id, inbox=InboxView(infra.engine))
    runner = ProjectionRunner(infra.js, infra.engine, projection)
    inbox_runner = ProjectionRunner(infra.js, infra.engine, inbox)
    return Parts(
        registrars=[registrar(MessagingServicer(deps, StatusWatch(infra.nc, deps.history)))],
        service_names=[SERVICE_NAME], access=ACCESS,
        tables=[projection.view, inbox.view, idempotency_metadata, hooks.tables,
                journal_metadata],
        subscriptions=[*runner.subscriptions(), *inbox_runner.subscriptions(),
                       *hooks.subscriptions],
        retired=runner.retired(),
        workers=[reservations.run, *hooks.workers],
        on_stop=[billing_channel.close, device_channel.close],
        public_payload=messaging_codec().public_payload,
    )
