"""The dispatch worker: a durable JetStream consumer of messaging's MessageQueued events.

Several workers (and replicas) share one durable name, so each queued message goes to
one of them; the dispatch stream's single claim makes a redelivery harmless. Each
message is settled on its own (the kernel consumer's `OnItsOwn`): acked once handled,
handed back (nak with a short delay) when its device is not live here, retried later on
any other error (nak, 1 s or more while failures go on).
"""

from __future__ import annotations

from kernel.bus import Envelope
from kernel.consumer import OnItsOwn
from kernel.subscriptions import EventSubscription
from services.device.app.dispatch import Dispatcher
from services.device.domain.commands import DispatchMessage, MediaFile
from switchboard.messaging.v1 import events_pb2 as messaging_events

SOURCE = "messaging"
RETRY_DELAY = 1.0
DISPATCH_DURABLE = "device-dispatch"
QUEUED = "MessageQueued"


def to_command(envelope: Envelope) -> DispatchMessage:
    queued = messaging_events.MessageQueued.FromString(envelope.payload)
    return DispatchMessage(queued.message_id, queued.user_id, queued.number, queued.body,
                           queued.channel or "pool", queued.instance_id,
                           envelope.recorded_at, envelope.deliveries == 1,
                           media=media_file(queued),
                           whatsapp_template=queued.whatsapp_template)


def media_file(queued: messaging_events.MessageQueued) -> MediaFile | None:
    if not queued.HasField("media"):
        return None
    m = queued.media
    return MediaFile(m.sha256, m.mime_type, m.size_bytes, m.filename, m.kind)


def dispatch_subscription(dispatcher: Dispatcher, durable: str, workers: int, batch: int,
                          only_new: bool = False, handback_delay: float = 0.1,
                          ack_wait: float = 30.0) -> EventSubscription:
    """Feeds each batch of queued messages to the dispatcher, all of them at once. Tests
    sharing one stream start from their own messages (`only_new`)."""

    async def dispatch(envelope: Envelope) -> None:
        await dispatcher.dispatch(to_command(envelope))

    return EventSubscription(SOURCE, (QUEUED,), durable,
                             OnItsOwn(dispatch, handback_delay, RETRY_DELAY),
                             batch=batch, workers=workers, ack_wait=ack_wait,
                             only_new=only_new)
