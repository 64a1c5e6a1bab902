"""Webhooks' parts for the messaging service's composition root: the rpcs (with the
live status stream's), the tables, the fan-out consumer and the delivery worker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import MetaData

from kernel.host import Infra
from services.messaging.adapters.history_view import HistoryView
from services.messaging.adapters.streams import Worker
from services.messaging.adapters.webhook_fanout import FANOUT, fanout_worker
from services.messaging.adapters.webhook_store import WebhookStore
from services.messaging.adapters.webhook_tables import webhook_metadata
from services.messaging.adapters.webhook_worker import DeliveryWorker
from services.messaging.domain.webhook import Backoff
from services.messaging.ports.watch import WebhookRpcs
from services.messaging.ports.watch_stream import StatusWatch


@dataclass(frozen=True)
class WebhookParts:
    rpcs: tuple[Any, ...]  # WebhookRpcs and StatusWatch, bound by ports.watch.with_webhooks
    tables: MetaData
    workers: list[Worker]


def webhook_parts(infra: Infra, name: str = FANOUT) -> WebhookParts:
    """`name` prefixes the fan-out's durable consumers (tests pass their own)."""
    s = infra.settings
    backoff = Backoff(base=timedelta(seconds=s.webhook_backoff_base_seconds),
                      cap=timedelta(seconds=s.webhook_backoff_cap_seconds),
                      jitter=s.webhook_backoff_jitter,
                      give_up_after=timedelta(seconds=s.webhook_give_up_seconds))
    worker = DeliveryWorker(infra.engine, backoff, timeout=s.webhook_timeout_seconds,
                            poll=s.webhook_poll_seconds)
    watch = StatusWatch(infra.nc, HistoryView(infra.engine))
    return WebhookParts(rpcs=(WebhookRpcs(WebhookStore(infra.store)), watch),
                        tables=webhook_metadata,
                        workers=[fanout_worker(infra.js, infra.engine, name), worker.run])
