"""The cloud transport reads the `messages[]` of Meta's webhooks (in Meta's shapes, as the
Cloud API stand-in builds them) as the port's exact `Inbound`, fetching media through
the Graph API (`GET /{media-id}`, then its URL with the token) against the stand-in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kernel.errors import UnavailableError
from services.device.adapters.cloud import CloudMessage
from services.device.app.transport import Inbound, InboundMedia, InboundType
from tests.device.transports.cloud_standin import FakeCloudApi
from tests.device.transports.cloud_support import NUMBER_ID, TOKEN, Sleeps, cloud_transport

T0 = 1_717_400_000
ANN = "447700900456"
BSUID = "GB.13491208655302741918"
user_message = FakeCloudApi.user_message


@pytest.fixture
async def transport(meta, ledger, recorder):
    made = cloud_transport(meta.url, ledger, recorder, Sleeps())
    yield made
    await made.close()


def of(message: dict[str, Any], contact: dict[str, Any] | None = None,
       number: str = NUMBER_ID) -> CloudMessage:
    return CloudMessage(number, message, contact if contact is not None else {
        "profile": {"name": "Ann"}, "wa_id": message.get("from", ""), "user_id": BSUID})


def expected(message: dict[str, Any], **fields: Any) -> Inbound:
    base: dict[str, Any] = {"device_id": "dev-1", "transport_message_id": message["id"],
                            "from_phone": ANN, "chat_id": ANN, "type": InboundType.TEXT,
                            "sent_at": datetime.fromtimestamp(T0, UTC), "from_lid": BSUID,
                            "from_name": "Ann"}
    return Inbound(**{**base, **fields})


async def test_a_text_arrives_with_the_sender_s_number_and_bsuid(transport, recorder):
    text = user_message("text", {"body": "Yes, Tuesday works"}, ANN, T0)
    tally = await transport.accept_messages([of(text)])
    assert (tally.received, tally.ignored) == (1, 0)
    assert recorder.events == [expected(text, text="Yes, Tuesday works")]


async def test_a_reply_names_the_quoted_message(transport, recorder):
    reply = user_message("text", {"body": "Thanks!"}, ANN, T0,
                         context={"from": "15550100000", "id": "wamid.OURS=="})
    forwarded = user_message("text", {"body": "fwd"}, ANN, T0, context={"forwarded": True})
    await transport.accept_messages([of(reply), of(forwarded)])
    assert recorder.events == [expected(reply, text="Thanks!", quoted="wamid.OURS=="),
                               expected(forwarded, text="fwd")]


@pytest.mark.parametrize(("kind", "mime", "extra", "inbound_type", "text", "filename"), [
    ("image", "image/jpeg", {"caption": "the receipt"}, InboundType.IMAGE, "the receipt", ""),
    ("sticker", "image/webp", {"animated": False}, InboundType.IMAGE, "", ""),
    ("document", "application/pdf", {"caption": "signed", "filename": "contract.pdf"},
     InboundType.DOCUMENT, "signed", "contract.pdf"),
    ("audio", "audio/ogg; codecs=opus", {"voice": True}, InboundType.AUDIO, "", ""),
    ("video", "video/mp4", {"caption": "look"}, InboundType.VIDEO, "look", ""),
])
async def test_media_is_fetched_through_the_graph_api(transport, meta, recorder, kind, mime,
                                                      extra, inbound_type, text, filename):
    data = f"{kind} bytes ".encode() * 100
    media = {**meta.upload_from_user(data, mime), **extra}
    message = user_message(kind, media, ANN, T0)
    await transport.accept_messages([of(message)])
    assert recorder.events == [expected(message, type=inbound_type, text=text,
                                        media=InboundMedia(data, mime, filename))]
    described, fetched = meta.seen[-2:]
    assert (described.method, described.path) == ("GET", f"/v21.0/{media['id']}")
    assert fetched.path.startswith("/whatsapp_business/attachments/?mid=")
    assert fetched.headers["authorization"] == f"Bearer {TOKEN}"


async def test_media_meta_cannot_hand_over_now_is_unavailable(transport, meta, recorder):
    message = user_message("image", meta.upload_from_user(b"jpeg", "image/jpeg"), ANN, T0)
    meta.fail_next(500, 2, "Service temporarily unavailable", is_transient=True)
    with pytest.raises(UnavailableError, match="media not fetched now"):
        await transport.accept_messages([of(message)])
    assert recorder.events == []  # Meta delivers the webhook again
    await transport.accept_messages([of(message)])
    assert recorder.events[0].media == InboundMedia(b"jpeg", "image/jpeg")


async def test_damaged_media_is_unavailable(transport, meta, recorder):
    media = meta.upload_from_user(b"the real file", "image/png")
    meta.cut_short.add(media["id"])
    with pytest.raises(UnavailableError, match="arrived damaged"):
        await transport.accept_messages([of(user_message("image", media, ANN, T0))])
    assert recorder.events == []


async def test_media_meta_no_longer_has_is_reported_without_it(transport, recorder):
    message = user_message("image", {"id": "1234567890", "mime_type": "image/jpeg",
                                     "sha256": "x", "caption": "see this"}, ANN, T0)
    await transport.accept_messages([of(message)])  # the stand-in: error 100, no such id
    assert recorder.events == [expected(message, type=InboundType.IMAGE, text="see this")]


async def test_a_location_arrives_with_its_place(transport, recorder):
    place = user_message("location", {"latitude": 37.4611978, "longitude": -122.2164385,
                                      "name": "Facebook HQ",
                                      "address": "1 Hacker Way, Menlo Park, CA 94025"},
                         ANN, T0)
    await transport.accept_messages([of(place)])
    assert recorder.events == [expected(
        place, type=InboundType.LOCATION, latitude=37.4611978, longitude=-122.2164385,
        text="Facebook HQ, 1 Hacker Way, Menlo Park, CA 94025")]


async def test_contacts_arrive_as_vcards(transport, recorder):
    cards = user_message("contacts", None, ANN, T0, contacts=[
        {"name": {"first_name": "Chandler", "last_name": "Bing",
                  "formatted_name": "Chandler Bing"},
         "phones": [{"phone": "+1 555-555-5555", "wa_id": "15555555555", "type": "CELL"}],
         "emails": [{"email": "c@bing.example", "type": "WORK"}]},
        {"vcard": "BEGIN:VCARD\nVERSION:3.0\nFN:Monica\nEND:VCARD",
         "phones": [{"phone": "+1 666-666-6666"}]}])
    await transport.accept_messages([of(cards)])
    assert recorder.events == [expected(cards, type=InboundType.CONTACT, text="Chandler Bing",
                                        vcard="BEGIN:VCARD\nVERSION:3.0\nFN:Chandler Bing\n"
                                              "N:Bing;Chandler;;;\n"
                                              "TEL;type=CELL;waid=15555555555:+1 555-555-5555\n"
                                              "EMAIL;type=WORK:c@bing.example\nEND:VCARD\n"
                                              "BEGIN:VCARD\nVERSION:3.0\nFN:Monica\n"
                                              "END:VCARD\n")]


async def test_reactions_name_their_emoji_and_target(transport, recorder):
    liked = user_message("reaction", {"message_id": "wamid.OURS=", "emoji": "👍"}, ANN, T0)
    taken_back = user_message("reaction", {"message_id": "wamid.OURS="}, ANN, T0)
    await transport.accept_messages([of(liked), of(taken_back)])
    assert recorder.events == [
        expected(liked, type=InboundType.REACTION, text="👍", quoted="wamid.OURS="),
        expected(taken_back, type=InboundType.REACTION, quoted="wamid.OURS=")]


async def test_button_and_list_replies_arrive_as_text(transport, recorder):
    button = user_message("button", {"payload": "YES", "text": "Yes, confirm"}, ANN, T0,
                          context={"from": "15550100000", "id": "wamid.TEMPLATE="})
    chosen = user_message("interactive", {"type": "list_reply", "list_reply": {
        "id": "slot-2", "title": "Tuesday 10:00", "description": "with Dr. Lee"}}, ANN, T0)
    await transport.accept_messages([of(button), of(chosen)])
    assert [(e.type, e.text, e.quoted) for e in recorder.events] == [
        (InboundType.TEXT, "Yes, confirm", "wamid.TEMPLATE="),
        (InboundType.TEXT, "Tuesday 10:00", "")]


async def test_a_sender_known_only_by_bsuid_chats_under_it(transport, recorder):
    hidden = user_message("text", {"body": "from a username"}, "", T0,
                          from_user_id=BSUID)
    del hidden["from"]
    await transport.accept_messages([of(hidden, {"profile": {"name": "Ann",
                                                             "username": "@ann"},
                                                 "user_id": BSUID})])
    assert recorder.events == [expected(hidden, text="from a username", from_phone="",
                                        chat_id=BSUID)]


async def test_a_group_message_is_the_group_s_chat(transport, recorder):
    said = user_message("text", {"body": "team lunch?"}, ANN, T0, group_id="120363041234567")
    await transport.accept_messages([of(said)])
    assert recorder.events == [expected(said, text="team lunch?", chat_id="120363041234567",
                                        is_group=True)]


async def test_what_is_not_reported_is_counted_as_ignored(transport, recorder):
    unsupported = user_message("unsupported", None, ANN, T0, errors=[{
        "code": 131051, "title": "Message type unknown"}])
    system = user_message("system", {"body": "User changed number", "type":
                                     "user_changed_number"}, ANN, T0)
    elsewhere = user_message("text", {"body": "hi"}, ANN, T0)
    tally = await transport.accept_messages([of(unsupported), of(system),
                                             of(elsewhere, number="999999")])
    assert (tally.received, tally.ignored) == (0, 3) and recorder.events == []
