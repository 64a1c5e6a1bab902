"""Messages from others on a linked whatsmeow device, against the neonize stand-in: each
`MessageEv` reaches the transport's sink as the port's exact `Inbound` (type, text,
media downloaded through neonize, quoted id, group, the sender's number and LID), and
what is not inbound (the device's own messages, status updates, protocol messages,
receipts) does not."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

pytest.importorskip("neonize", reason="the whatsmeow extra (neonize) is not installed here")

from neonize.proto.waCommon.WACommon_pb2 import MessageKey  # noqa: E402
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (  # noqa: E402
    ContactMessage,
    ContactsArrayMessage,
    ContextInfo,
    ExtendedTextMessage,
    LocationMessage,
    Message,
    ProtocolMessage,
    ReactionMessage,
)

from services.device.app.transport import (  # noqa: E402
    Inbound,
    InboundMedia,
    InboundType,
    Receipt,
)
from tests.device.transports.conftest import Recorder  # noqa: E402
from tests.device.transports.neonize_messages import (  # noqa: E402
    arrived,
    jid,
    media_message,
)
from tests.device.transports.neonize_standin import FakeNewAClient, FakeWhatsApp  # noqa: E402
from tests.device.transports.whatsmeow_support import link, whatsmeow  # noqa: E402

T0 = 1_717_400_000
ANN = "447700900456"
ANN_LID = "205478395461779"
VCARD = "BEGIN:VCARD\nVERSION:3.0\nFN:Bob\nTEL;type=CELL;waid=447700900789:+44 7700 900789\n" \
        "END:VCARD"


@dataclass
class Linked:
    far: FakeWhatsApp
    client: FakeNewAClient  # the linked device's
    recorder: Recorder

    async def arrive(self, message: Message, sender: Any, **kwargs: Any) -> str:
        event = arrived(message, sender, at=T0, **kwargs)
        await self.far.message_from(self.client, event)
        return str(event.Info.ID)

    async def received(self, message: Message, **kwargs: Any) -> Inbound:
        """One message from Ann (phone-number addressing unless told), once reported."""
        ident = await self.arrive(message, kwargs.pop("sender", jid(ANN, device=3)), **kwargs)
        found = await self.recorder.wait_for(lambda e: isinstance(e, Inbound)
                                             and e.transport_message_id == ident)
        assert isinstance(found, Inbound)
        return found


@pytest.fixture
async def dev(tmp_path, ledger, recorder) -> AsyncIterator[Linked]:
    far = FakeWhatsApp()
    made = whatsmeow(tmp_path, ledger, far, recorder)
    try:
        yield Linked(far, await link(made, far, recorder), recorder)
    finally:
        await made.close()


def expected(ident: str, **fields: object) -> Inbound:
    base: dict[str, object] = {"device_id": "dev-1", "transport_message_id": ident,
                               "from_phone": ANN, "chat_id": ANN, "type": InboundType.TEXT,
                               "sent_at": datetime.fromtimestamp(T0, UTC), "from_name": "Ann"}
    return Inbound(**{**base, **fields})  # type: ignore[arg-type]


async def test_a_text_arrives_with_the_sender_s_number_and_lid(dev):
    got = await dev.received(Message(conversation="Yes, Tuesday works"),
                             sender_alt=jid(ANN_LID, "lid"))
    assert got == expected(got.transport_message_id, text="Yes, Tuesday works",
                           from_lid=f"{ANN_LID}@lid")


async def test_a_lid_addressed_sender_has_its_number_from_sender_alt(dev):
    got = await dev.received(Message(conversation="hi"),
                             sender=jid(ANN_LID, "lid", device=2), sender_alt=jid(ANN))
    assert (got.from_phone, got.from_lid, got.chat_id) == (ANN, f"{ANN_LID}@lid", ANN)


async def test_what_the_message_leaves_out_comes_from_whatsmeow_s_lid_map(dev):
    dev.far.lids[ANN] = ANN_LID
    by_lid = await dev.received(Message(conversation="a"), sender=jid(ANN_LID, "lid"))
    by_phone = await dev.received(Message(conversation="b"))
    assert (by_lid.from_phone, by_lid.from_lid) == (ANN, f"{ANN_LID}@lid")
    assert (by_phone.from_phone, by_phone.from_lid) == (ANN, f"{ANN_LID}@lid")


async def test_a_sender_known_only_by_lid_chats_under_the_lid(dev):
    got = await dev.received(Message(conversation="who am I"),
                             sender=jid("99887766554433", "lid"))
    assert (got.from_phone, got.from_lid, got.chat_id) == \
        ("", "99887766554433@lid", "99887766554433@lid")


async def test_a_reply_names_the_quoted_message(dev):
    reply = ExtendedTextMessage(text="Thanks!", contextInfo=ContextInfo(
        stanzaID="3EB0C0FFEE", participant=f"{dev.client.linked.User}@s.whatsapp.net"))
    got = await dev.received(Message(extendedTextMessage=reply))
    assert got == expected(got.transport_message_id, text="Thanks!", quoted="3EB0C0FFEE")


async def test_a_group_message_is_the_group_s_chat_from_its_participant(dev):
    group = jid("120363041234567890", "g.us")
    got = await dev.received(Message(conversation="team lunch?"),
                             chat=group, sender=jid(ANN_LID, "lid"), sender_alt=jid(ANN))
    assert got == expected(got.transport_message_id, text="team lunch?", is_group=True,
                           chat_id="120363041234567890@g.us", from_lid=f"{ANN_LID}@lid")


@pytest.mark.parametrize(("kind", "mimetype", "fields", "text", "filename"), [
    ("image", "image/jpeg", {"caption": "the receipt"}, "the receipt", ""),
    ("document", "application/pdf", {"caption": "signed", "fileName": "contract.pdf",
                                     "title": "contract"}, "signed", "contract.pdf"),
    ("audio", "audio/ogg; codecs=opus", {"PTT": True, "seconds": 4}, "", ""),
    ("video", "video/mp4", {"caption": "look", "seconds": 9}, "look", ""),
])
async def test_media_is_downloaded_through_neonize(dev, kind, mimetype, fields, text,
                                                   filename):
    data = hashlib.sha256(kind.encode()).digest() * 64
    got = await dev.received(media_message(dev.far, kind, data, mimetype, **fields))
    assert got == expected(got.transport_message_id, type=InboundType(kind), text=text,
                           media=InboundMedia(data, mimetype, filename))


async def test_a_download_that_fails_for_a_while_is_tried_again(dev):
    dev.far.download_failures = 2
    message = media_message(dev.far, "image", b"\x89PNG-bytes", "image/png")
    got = await dev.received(message)
    assert got.media == InboundMedia(b"\x89PNG-bytes", "image/png")


async def test_media_whatsapp_no_longer_has_still_reports_the_message(dev):
    message = media_message(dev.far, "image", b"gone soon", "image/jpeg", caption="see this")
    dev.far.media.clear()  # the CDN answers 404
    got = await dev.received(message)
    assert (got.type, got.text, got.media) == (InboundType.IMAGE, "see this", None)


async def test_a_location_arrives_with_its_place(dev):
    place = LocationMessage(degreesLatitude=51.5007, degreesLongitude=-0.1246,
                            name="Big Ben", address="London SW1A 0AA")
    got = await dev.received(Message(locationMessage=place))
    assert got == expected(got.transport_message_id, type=InboundType.LOCATION,
                           text="Big Ben, London SW1A 0AA", latitude=51.5007,
                           longitude=-0.1246)


async def test_contacts_arrive_as_vcards(dev):
    one = await dev.received(Message(contactMessage=ContactMessage(
        displayName="Bob", vcard=VCARD)))
    many = await dev.received(Message(
        contactsArrayMessage=ContactsArrayMessage(displayName="2 contacts", contacts=[
            ContactMessage(displayName="Bob", vcard=VCARD),
            ContactMessage(displayName="Cy", vcard=VCARD.replace("Bob", "Cy"))])))
    assert one == expected(one.transport_message_id, type=InboundType.CONTACT, text="Bob",
                           vcard=VCARD)
    assert many.vcard == f"{VCARD}\n{VCARD.replace('Bob', 'Cy')}\n" and many.text == \
        "2 contacts"


async def test_a_reaction_names_its_emoji_and_target(dev):
    target = MessageKey(remoteJID=f"{ANN}@s.whatsapp.net", fromMe=True, ID="3EB0AB12CD34")
    got = await dev.received(Message(reactionMessage=ReactionMessage(
        key=target, text="👍", senderTimestampMS=T0 * 1000)))
    assert got == expected(got.transport_message_id, type=InboundType.REACTION, text="👍",
                           quoted="3EB0AB12CD34")


async def test_what_is_not_a_message_from_someone_else_is_not_inbound(dev):
    own = jid(dev.client.linked.User)
    await dev.arrive(Message(conversation="sent from my phone"), own, chat=jid(ANN),
                     from_me=True)
    await dev.arrive(Message(conversation="my story"), jid(ANN),
                     chat=jid("status", "broadcast"))
    await dev.arrive(Message(protocolMessage=ProtocolMessage(
        type=ProtocolMessage.REVOKE, key=MessageKey(ID="X"))), jid(ANN))
    last = await dev.received(Message(conversation="the only one"))
    assert [e.text for e in dev.recorder.of(Inbound)] == ["the only one"]
    await dev.far.receipt(dev.client, [last.transport_message_id], 1)  # read: not ours
    await asyncio.sleep(0.2)
    assert dev.recorder.of(Receipt) == []


async def test_messages_arrive_in_the_order_whatsapp_sent_them(dev):
    data = b"slow-to-download" * 1000
    await dev.arrive(media_message(dev.far, "document", data, "text/plain"), jid(ANN))
    for n in range(5):
        await dev.arrive(Message(conversation=f"m{n}"), jid(ANN))
    await dev.recorder.wait_for(lambda e: isinstance(e, Inbound) and e.text == "m4")
    assert [e.type for e in dev.recorder.of(Inbound)][0] == InboundType.DOCUMENT
    assert [e.text for e in dev.recorder.of(Inbound)][1:] == [f"m{n}" for n in range(5)]
