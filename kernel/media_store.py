"""The one factory of the media store every process uses (kernel/media.py has the
interface and the local store; kernel/media_s3.py the bucket, imported only when chosen)."""

from __future__ import annotations

from pathlib import Path

from kernel.config import Settings
from kernel.media import LocalMediaStore, MediaStore


def media_store(settings: Settings) -> MediaStore:
    """The store `SWITCHBOARD_MEDIA_STORE` names: `local` (files under
    `SWITCHBOARD_MEDIA_DIR`, default `<var_dir>/media`) or `s3`."""
    if settings.media_store == "s3":
        from kernel.media_s3 import S3MediaStore

        return S3MediaStore.from_settings(settings)
    return LocalMediaStore(Path(settings.media_dir) if settings.media_dir
                           else settings.var_dir / "media")
