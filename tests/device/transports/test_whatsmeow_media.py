"""The whatsmeow transport's media sends against the neonize stand-in: the stored file
goes through whatsmeow's Upload (as the media type its keys are derived for), then an
image, video, audio or document message names the upload, and the recipient's download
of it answers the very bytes stored; failures end as the dispatcher expects."""

from __future__ import annotations

import hashlib

import pytest

pytest.importorskip("neonize", reason="the whatsmeow extra (neonize) is not installed here")

from neonize.utils.enum import MediaType  # noqa: E402

from kernel.media import LocalMediaStore  # noqa: E402
from services.device.app.transport import SessionDownError, TransportError  # noqa: E402
from services.device.domain.commands import MediaFile  # noqa: E402
from tests.device.transports.neonize_standin import FakeWhatsApp  # noqa: E402
from tests.device.transports.whatsmeow_support import link, whatsmeow  # noqa: E402

TO = "+1 555 0100"
FILES = {"image": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "image/png", "a.png"),
         "video": (b"\0\0\0\x18ftypmp42" + bytes(300), "video/mp4", "clip.mp4"),
         "audio": (b"OggS" + bytes(200), "audio/ogg", "note.ogg"),
         "document": (b"%PDF-1.4\n" + b"x" * 500, "application/pdf", "invoice.pdf")}
TYPES = {"image": MediaType.MediaImage, "video": MediaType.MediaVideo,
         "audio": MediaType.MediaAudio, "document": MediaType.MediaDocument}


@pytest.fixture
def far() -> FakeWhatsApp:
    return FakeWhatsApp()


@pytest.fixture
def store(tmp_path) -> LocalMediaStore:
    return LocalMediaStore(tmp_path / "media")


@pytest.fixture
async def transport(tmp_path, ledger, far, recorder, store):
    made = whatsmeow(tmp_path, ledger, far, recorder)
    made.media = store
    yield made
    await made.close()


async def stored(store: LocalMediaStore, kind: str) -> MediaFile:
    content, mime, name = FILES[kind]
    ref = await store.put(content, mime)
    return MediaFile(ref.sha256, mime, ref.size, name, kind)


@pytest.mark.parametrize("kind", list(FILES))
async def test_each_kind_is_uploaded_then_sent_as_its_message(transport, far, recorder,
                                                             store, kind):
    client = await link(transport, far, recorder)
    media = await stored(store, kind)
    caption = "" if kind == "audio" else "see this"
    sent = await transport.send_media("dev-1", TO, media, caption, f"sb-{kind}")
    out = far.sent[-1]
    assert sent.transport_message_id == f"sb-{kind}" and out.to.User == "15550100"
    assert far.uploads == [TYPES[kind]]
    body = getattr(out.message, f"{kind}Message")
    assert (body.mimetype, body.fileLength, body.fileSHA256) == (
        media.mime_type, media.size_bytes, bytes.fromhex(media.sha256))
    if kind != "audio":  # WhatsApp's AudioMessage has no caption at all
        assert body.caption == caption
    if kind == "document":
        assert body.fileName == "invoice.pdf"
    downloaded = await client.download_any(out.message)
    assert hashlib.sha256(downloaded).hexdigest() == media.sha256


async def test_a_resent_media_message_is_not_uploaded_again(transport, far, recorder, store):
    await link(transport, far, recorder)
    media = await stored(store, "image")
    first = await transport.send_media("dev-1", TO, media, "", "sb-1")
    assert await transport.send_media("dev-1", TO, media, "", "sb-1") == first
    assert len(far.uploads) == 1 and len(far.sent) == 1


async def test_a_failed_upload_sends_nothing(transport, far, recorder, store):
    await link(transport, far, recorder)
    far.upload_failures = 1
    with pytest.raises(TransportError):
        await transport.send_media("dev-1", TO, await stored(store, "image"), "", "sb-2")
    assert far.sent == []


async def test_without_a_session_nothing_is_read_or_sent(transport, far, store):
    with pytest.raises(SessionDownError):
        await transport.send_media("dev-1", TO, await stored(store, "image"), "", "sb-3")
    assert far.uploads == [] and far.sent == []
