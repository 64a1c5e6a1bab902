"""Webhooks' parts for the messaging service's composition root: the store its
rpcs call, the tables, the fan-out subscriptions and the delivery worker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import MetaData

from kernel.host import Infra, Worker
from kernel.media_store import media_store
from kernel.subscriptions import EventSubscription
from services.messaging.adapters.media_fetch import MediaFetcher
from services.messaging.adapters.webhook_fanout import FANOUT, fanout_subscriptions
from services.messaging.adapters.webhook_guard import TargetGuard
from services.messaging.adapters.webhook_received import received_subscription
from services.messaging.adapters.webhook_store import WebhookStore
from services.messaging.adapters.webhook_tables import webhook_metadata
from services.messaging.adapters.webhook_transport import delivery_client
from services.messaging.adapters.webhook_worker import DeliveryWorker, Limits
from services.messaging.domain.webhook import Backoff
from services.messaging.domain.webhook_targets import AddressPolicy, allow_list
from services.messaging.settings import MessagingSettings


@dataclass(frozen=True)
class WebhookParts:
    store: WebhookStore
    tables: MetaData
    workers: list[Worker]
    subscriptions: list[EventSubscription]


def delivery_limits(s: MessagingSettings) -> Limits:
    return Limits(workers=s.webhook_workers, per_endpoint=s.webhook_endpoint_concurrency,
                  per_owner=s.webhook_owner_concurrency,
                  breaker_failures=s.webhook_breaker_failures,
                  breaker_cool_down=timedelta(seconds=s.webhook_breaker_seconds),
                  timeout=s.webhook_timeout_seconds, poll=s.webhook_poll_seconds)


def media_fetcher(s: MessagingSettings) -> MediaFetcher:
    """send-media's URL fetches: through the webhooks' guard, with their own allow list."""
    guard = TargetGuard(AddressPolicy(allow_list(s.media_url_allow_private)))
    return MediaFetcher(delivery_client(guard, s.media_fetch_timeout_seconds, 16),
                        media_store(s), s.media_max_bytes, s.media_fetch_timeout_seconds)


def webhook_parts(infra: Infra[MessagingSettings], name: str = FANOUT) -> WebhookParts:
    """`name` prefixes the fan-out's durable consumers (tests pass their own)."""
    s = infra.settings
    backoff = Backoff(base=timedelta(seconds=s.webhook_backoff_base_seconds),
                      cap=timedelta(seconds=s.webhook_backoff_cap_seconds),
                      jitter=s.webhook_backoff_jitter,
                      give_up_after=timedelta(seconds=s.webhook_give_up_seconds))
    guard = TargetGuard(AddressPolicy(allow_list(s.webhook_allow_private)))
    worker = DeliveryWorker(infra.engine, backoff, guard, delivery_limits(s))
    store = WebhookStore(infra.store, guard, s.webhook_max_per_user)
    return WebhookParts(store=store,
                        tables=webhook_metadata,
                        workers=[worker.run],
                        subscriptions=[
                            *fanout_subscriptions(infra.engine, name, worker.wake.set),
                            received_subscription(infra.engine, name, worker.wake.set)])
