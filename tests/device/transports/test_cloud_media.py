"""The cloud transport's media sends against the Cloud API stand-in over HTTP: the stored
file uploaded with `POST /{phone_number_id}/media` (multipart, as Meta documents it), then
sent by the media id it answered; one upload per number and file; Meta's refusals fail
the message for good, the media store's loss too."""

from __future__ import annotations

import hashlib

import pytest

from kernel.media import LocalMediaStore
from services.device.app.transport import TransportError
from services.device.domain.commands import MediaFile
from tests.device.transports.cloud_support import NUMBER_ID, Sleeps, cloud_transport

TO = "+1 555 0199"
PDF = b"%PDF-1.4\n" + b"line\n" * 2000
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


@pytest.fixture
def store(tmp_path) -> LocalMediaStore:
    return LocalMediaStore(tmp_path / "media")


@pytest.fixture
async def transport(meta, ledger, recorder, store):
    transport = cloud_transport(meta.url, ledger, recorder, Sleeps())
    transport.media = store
    assert await transport.resume("dev-1", "")
    yield transport
    await transport.close()


async def stored(store: LocalMediaStore, content: bytes, mime: str, kind: str,
                 name: str) -> MediaFile:
    ref = await store.put(content, mime)
    return MediaFile(ref.sha256, ref.mime_type, ref.size, name, kind)


async def test_a_document_is_uploaded_then_sent_by_its_media_id(transport, meta, store):
    media = await stored(store, PDF, "application/pdf", "document", "invoice.pdf")
    sent = await transport.send_media("dev-1", TO, media, "March invoice", "sb-d1")
    upload, message = meta.seen[-2], meta.seen[-1]
    assert (upload.method, upload.path) == ("POST", f"/v21.0/{NUMBER_ID}/media")
    assert upload.headers["content-type"].startswith("multipart/form-data; boundary=")
    [media_id] = meta.uploads
    assert meta.media[media_id] == (PDF, "application/pdf")
    assert (message.method, message.path) == ("POST", f"/v21.0/{NUMBER_ID}/messages")
    assert message.body == {"messaging_product": "whatsapp", "recipient_type": "individual",
                            "to": "15550199", "type": "document",
                            "document": {"id": media_id, "caption": "March invoice",
                                         "filename": "invoice.pdf"},
                            "biz_opaque_callback_data": "sb-d1"}
    assert sent.transport_message_id == "sb-d1"
    assert (await transport.ledger.entry("sb-d1")).remote_id == meta.accepted[0]["wamid"]


async def test_the_same_file_is_uploaded_once_for_many_recipients(transport, meta, store):
    media = await stored(store, PNG, "image/png", "image", "menu.png")
    for n, to in enumerate(["+15550101", "+15550102", "+15550103"]):
        await transport.send_media("dev-1", to, media, "", f"sb-i{n}")
    assert len(meta.uploads) == 1
    assert [a["image"] for a in meta.accepted] == [{"id": meta.uploads[0]}] * 3
    assert hashlib.sha256(meta.media[meta.uploads[0]][0]).hexdigest() == media.sha256


async def test_a_resent_media_message_is_answered_from_the_ledger(transport, meta, store):
    media = await stored(store, PNG, "image/png", "image", "a.png")
    first = await transport.send_media("dev-1", TO, media, "hi", "sb-r1")
    assert await transport.send_media("dev-1", TO, media, "hi", "sb-r1") == first
    assert len(meta.accepted) == 1


async def test_meta_refusing_the_upload_fails_the_message_for_good(transport, meta, store):
    media = await stored(store, b"GIF89a" + b"\0" * 100, "image/gif", "image", "a.gif")
    with pytest.raises(TransportError, match="131053|Media upload error"):
        await transport.send_media("dev-1", TO, media, "", "sb-x1")
    assert meta.accepted == []


async def test_a_file_gone_from_the_store_fails_the_message(transport, meta, store, tmp_path):
    media = MediaFile("ab" * 32, "image/png", 10, "a.png", "image")
    with pytest.raises(TransportError, match="no longer in the media store"):
        await transport.send_media("dev-1", TO, media, "", "sb-x2")
    assert meta.uploads == [] and meta.accepted == []
