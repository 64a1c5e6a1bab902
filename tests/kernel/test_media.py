"""The media store's contract, on the local files store (and S3 against moto, in
tests/kernel/test_media_s3.py, through the same checks)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kernel.config import Settings
from kernel.media import LocalMediaStore, MediaNotFoundError, MediaStore, Retention
from kernel.media_store import media_store

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


async def check_contract(store: MediaStore) -> None:
    ref = await store.put(PNG, "image/png")
    assert ref.sha256 == hashlib.sha256(PNG).hexdigest()
    assert (ref.size, ref.mime_type) == (len(PNG), "image/png")
    assert await store.get(ref.sha256) == PNG
    assert await store.head(ref.sha256) == ref
    assert await store.exists(ref.sha256)
    assert await store.put(PNG, "image/png") == ref  # stored once, same reference
    missing = hashlib.sha256(b"never stored").hexdigest()
    assert not await store.exists(missing)
    assert await store.head(missing) is None
    with pytest.raises(MediaNotFoundError):
        await store.get(missing)
    for bad in ("../../etc/passwd", "A" * 64, ""):
        with pytest.raises(MediaNotFoundError):
            await store.get(bad)


async def test_local_store_keeps_content_by_its_hash(tmp_path: Path) -> None:
    store = LocalMediaStore(tmp_path / "media")
    await check_contract(store)
    sha = hashlib.sha256(PNG).hexdigest()
    assert (tmp_path / "media" / sha[:2] / sha).read_bytes() == PNG
    assert not [p for p in (tmp_path / "media").rglob(".tmp-*")]


async def test_local_prune_removes_only_media_stored_before_the_cutoff(tmp_path: Path) -> None:
    store = LocalMediaStore(tmp_path)
    old = await store.put(b"old", "text/plain")
    new = await store.put(b"new", "text/plain")
    stale = time.time() - 40 * 86400
    os.utime(tmp_path / old.sha256[:2] / old.sha256, (stale, stale))
    assert await store.prune(datetime.now(UTC) - timedelta(days=30)) == 1
    assert not await store.exists(old.sha256)
    assert await store.get(new.sha256) == b"new"
    await store.put(b"new", "text/plain")  # storing again renews the age
    assert await store.prune(datetime.now(UTC) - timedelta(days=30)) == 0


def test_factory_defaults_to_files_under_the_var_dir(tmp_path: Path) -> None:
    store = media_store(Settings(var_dir=tmp_path))
    assert store == LocalMediaStore(tmp_path / "media")
    other = media_store(Settings(var_dir=tmp_path, media_dir=str(tmp_path / "elsewhere")))
    assert other == LocalMediaStore(tmp_path / "elsewhere")


async def test_retention_worker_prunes_at_start_and_keeps_all_with_zero_days(
        tmp_path: Path) -> None:
    store = LocalMediaStore(tmp_path)
    old = await store.put(b"old", "text/plain")
    kept = await store.put(b"kept", "text/plain")
    stale = time.time() - 40 * 86400
    os.utime(tmp_path / old.sha256[:2] / old.sha256, (stale, stale))
    stop = asyncio.Event()
    forever = asyncio.create_task(Retention(store, 0).run(stop))
    await asyncio.sleep(0.05)
    assert await store.exists(old.sha256) and not forever.done()
    worker = asyncio.create_task(Retention(store, 30).run(stop))
    for _ in range(100):
        if not await store.exists(old.sha256):
            break
        await asyncio.sleep(0.01)
    assert not await store.exists(old.sha256) and await store.exists(kept.sha256)
    stop.set()
    await asyncio.wait_for(asyncio.gather(worker, forever), 1.0)
