"""Which protobuf message carries which messaging event."""

from __future__ import annotations

from kernel.codec import EventCodec
from services.messaging.domain.events import MessageQueued
from services.messaging.domain.templates import (
    TemplateCreated,
    TemplateDeleted,
    TemplateIdAllocated,
    TemplateUpdated,
)
from services.messaging.domain.webhook import WebhookRegistered, WebhookRemoved
from switchboard.messaging.v1 import events_pb2


def messaging_codec() -> EventCodec:
    return EventCodec({MessageQueued: events_pb2.MessageQueued,
                       TemplateCreated: events_pb2.TemplateCreated,
                       TemplateUpdated: events_pb2.TemplateUpdated,
                       TemplateDeleted: events_pb2.TemplateDeleted,
                       TemplateIdAllocated: events_pb2.TemplateIdAllocated,
                       # messaging webhooks
                       WebhookRegistered: events_pb2.WebhookRegistered,
                       WebhookRemoved: events_pb2.WebhookRemoved},
                      # signs the owner's deliveries: never published on the bus
                      private={WebhookRegistered: ("secret",)})
