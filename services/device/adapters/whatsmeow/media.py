"""A media message as WhatsApp Web carries it: the file uploaded to WhatsApp's media
servers first (whatsmeow's Upload: encrypted there, answered with where it lies and the
keys to it), then an image, video, audio or document message naming the upload. Built
here from the upload alone, without neonize's `build_*_message` helpers, which sniff,
thumbnail and transcode the file (libmagic, Pillow, ffmpeg) for what we already know."""

from __future__ import annotations

from typing import Any

from neonize.exc import UploadError
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    AudioMessage,
    DocumentMessage,
    ImageMessage,
    Message,
    VideoMessage,
)
from neonize.utils.enum import MediaType

from services.device.adapters.whatsmeow.events import send_failure
from services.device.domain.commands import MediaFile

# kind -> whatsmeow's media type (its upload's encryption keys differ by it), the
# message's field and its class
KINDS: dict[str, tuple[MediaType, str, Any]] = {
    "image": (MediaType.MediaImage, "imageMessage", ImageMessage),
    "video": (MediaType.MediaVideo, "videoMessage", VideoMessage),
    "audio": (MediaType.MediaAudio, "audioMessage", AudioMessage),
    "document": (MediaType.MediaDocument, "documentMessage", DocumentMessage),
}


def media_type(media: MediaFile) -> MediaType:
    return KINDS[media.kind][0]


def media_message(media: MediaFile, upload: Any, caption: str) -> Message:
    """The message naming `upload` (neonize's UploadResponse); audio has no caption on
    WhatsApp (messaging refuses one), a document shows its file name."""
    _, field, cls = KINDS[media.kind]
    fields: dict[str, Any] = {
        "URL": upload.url, "directPath": upload.DirectPath, "mediaKey": upload.MediaKey,
        "fileEncSHA256": upload.FileEncSHA256, "fileSHA256": upload.FileSHA256,
        "fileLength": upload.FileLength, "mimetype": media.mime_type}
    if media.kind != "audio" and caption:
        fields["caption"] = caption
    if media.kind == "document":
        fields["fileName"] = fields["title"] = media.filename or "document"
    return Message(**{field: cls(**fields)})


async def uploaded_message(client: Any, media: MediaFile, content: bytes,
                           caption: str) -> Message:
    """whatsmeow's Upload of `content`, then the message naming the upload; a refused upload
    is the send's failure (events.send_failure)."""
    try:
        upload = await client.upload(content, media_type(media))
    except UploadError as exc:
        raise send_failure(str(exc)) from exc
    return media_message(media, upload, caption)
