"""Private fields (password and key hashes, webhook secrets) stay in their service's own
store: the relay publishes the event with them emptied, against a real nats-server."""

from __future__ import annotations

from datetime import UTC, datetime

from nats.js import JetStreamContext

from kernel.eventstore import EventStore, StreamWrite
from kernel.relay import OutboxRelay
from services.auth.adapters.codec import auth_codec
from services.auth.domain.events import PasswordSet, UserRegistered
from services.messaging.adapters.codec import messaging_codec
from services.messaging.domain.webhook import WebhookRegistered
from switchboard.auth.v1 import events_pb2 as auth_events
from tests.kernel.conftest import stream_messages

HASH = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"


def test_only_the_private_fields_are_emptied() -> None:
    codec = messaging_codec()
    hook = codec.encode(WebhookRegistered("whk_1", 7, "https://hooks.example/x", "whsec_s3",
                                          datetime.now(UTC)))
    public = codec.decode_payload("WebhookRegistered",
                                  codec.public_payload(hook.event_type, hook.payload))
    assert (public.webhook_id, public.user_id, public.url, public.secret) == \
        ("whk_1", 7, "https://hooks.example/x", "")
    registered = auth_codec().encode(UserRegistered(7, "ann", "a@example.com", "", None))
    assert auth_codec().public_payload("UserRegistered", registered.payload) == \
        registered.payload


async def test_the_relay_publishes_no_hash_and_the_store_keeps_it(
        store: EventStore, js: JetStreamContext, service: str, unique: str) -> None:
    codec = auth_codec()
    await store.append_many([StreamWrite(f"user-{unique}", 0, [
        codec.encode(UserRegistered(7, "ann", "a@example.com", "", None)),
        codec.encode(PasswordSet(7, HASH))])])
    relay = OutboxRelay(store, js, service, public_payload=codec.public_payload)
    assert await relay.publish_pending() == 2

    published = await stream_messages(js, service)
    assert [m.event_type for m in published] == ["UserRegistered", "PasswordSet"]
    on_bus = auth_events.PasswordSet.FromString(published[1].payload)
    assert (on_bus.user_id, on_bus.password_hash) == (7, "")
    assert all(b"argon2" not in m.payload for m in published)
    stored = await store.read_all(limit=10)
    assert codec.decode(stored[1]) == PasswordSet(7, HASH)  # the service rebuilds from it
