"""The dispatch worker: a durable JetStream consumer of messaging's MessageQueued events.

Several workers (and replicas) share one durable name, so each queued message goes to
one of them; the dispatch stream's single claim makes a redelivery harmless. Each
message is settled on its own: acked once handled, handed back (nak with a short delay)
when its device is not live here, retried later on any other error (nak, 1 s or more
while failures go on).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from kernel import context
from kernel.bus import Envelope, stream_name, subject
from kernel.consumer import DurableConsumer
from kernel.retry import report
from services.device.app.dispatch import Dispatcher, HandBackError
from services.device.domain.commands import DispatchMessage
from switchboard.messaging.v1 import events_pb2 as messaging_events

log = logging.getLogger(__name__)

SOURCE = "messaging"
RETRY_DELAY = 1.0
DISPATCH_DURABLE = "device-dispatch"
QUEUED = subject(SOURCE, "MessageQueued")


def to_command(envelope: Envelope) -> DispatchMessage:
    queued = messaging_events.MessageQueued.FromString(envelope.payload)
    return DispatchMessage(queued.message_id, queued.user_id, queued.number, queued.body,
                           queued.channel or "pool", queued.instance_id)


class DispatchConsumer(DurableConsumer):
    """Feeds each batch of queued messages to the dispatcher, all of them at once."""

    def __init__(self, js: JetStreamContext, dispatcher: Dispatcher, durable: str,
                 workers: int, batch: int, only_new: bool = False,
                 handback_delay: float = 0.1, ack_wait: float = 30.0) -> None:
        super().__init__(js, SOURCE, durable, self.handle_batch,
                         filter_subjects=[QUEUED], batch=batch, workers=workers,
                         ack_wait=ack_wait)
        self.dispatcher = dispatcher
        self.only_new = only_new
        self.handback_delay = handback_delay
        self.handed_back = 0

    def config(self) -> ConsumerConfig:
        cfg = super().config()
        if self.only_new:  # tests sharing one stream start from their own messages
            cfg.deliver_policy = DeliverPolicy.NEW
        return cfg

    async def ensure(self) -> None:
        await self._ensure()

    async def handle_batch(self, batch: Sequence[Envelope]) -> None:
        results = await asyncio.gather(*(self._one(e) for e in batch), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]  # the batch is redelivered; the finished ones are skipped

    async def _process(self, msgs: list[Msg]) -> bool:
        """Each message settled on its own; False when any failed, so the worker waits
        (longer while failures go on, as when the store is out of reach) before fetching
        again."""
        settled = await asyncio.gather(*(self._settle(m) for m in msgs))
        return all(settled)

    async def _settle(self, msg: Msg) -> bool:
        try:
            await self._one(Envelope.from_msg(msg))
        except HandBackError as back:
            self.handed_back += 1
            log.debug("handed back: %s", back)
            await msg.nak(delay=back.delay or self.handback_delay)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            report(log, "dispatch (will redeliver)", exc)
            await msg.nak(delay=max(RETRY_DELAY, self.retry.delay))
            return False
        else:
            await msg.ack()
        return True

    async def _one(self, envelope: Envelope) -> None:
        context.caused_by(envelope.event_id, envelope.correlation_id)
        await self.dispatcher.dispatch(to_command(envelope))

    async def queue_depth(self) -> int:
        """Queued messages not yet dispatched: undelivered plus delivered-but-unacked."""
        try:
            info = await self.js.consumer_info(stream_name(SOURCE), self.durable)
        except NotFoundError:
            return 0
        return (info.num_pending or 0) + (info.num_ack_pending or 0)
