"""The S3 media store against moto's S3 server on 127.0.0.1: the store's contract, signed
requests (a wrong secret is refused), and retention by the objects' LastModified."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from kernel.config import Settings
from kernel.media import MediaStoreError
from kernel.media_s3 import S3MediaStore, SigV4
from kernel.media_store import media_store
from tests.kernel.test_media import PNG, check_contract
from tests.support.s3 import ACCESS, REGION, s3_endpoint, s3_store

__all__ = ["s3_endpoint", "s3_store"]


async def test_s3_store_keeps_content_by_its_hash(s3_store: S3MediaStore) -> None:
    await check_contract(s3_store)


@pytest.mark.parametrize("method,url,body", [
    ("PUT", "http://127.0.0.1:9000/bucket/media/" + "ab" * 32, PNG),
    ("GET", "http://s3.eu-west-1.amazonaws.com/bucket?list-type=2&prefix=media%2F"
            "&continuation-token=1%2Bb%2Fc%3D", b""),
    ("DELETE", "http://127.0.0.1:9000/my%20bucket/media/x", b"")])
def test_sigv4_signature_is_the_one_botocore_computes(method: str, url: str,
                                                      body: bytes) -> None:
    """The signature AWS's own SDK computes for the same request and moment."""
    request = AWSRequest(method=method, url=url, data=body)
    S3SigV4Auth(Credentials(ACCESS, "secret/key+x"), "s3", REGION).add_auth(request)
    moment = datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    ours = SigV4(ACCESS, "secret/key+x", REGION).headers(
        method, httpx.URL(url), body, moment.replace(tzinfo=UTC))
    assert ours["Authorization"] == request.headers["Authorization"]


async def test_s3_prune_removes_objects_last_stored_before_the_cutoff(
        s3_store: S3MediaStore) -> None:
    for n in range(3):
        await s3_store.put(f"file {n}".encode(), "text/plain")
    assert await s3_store.prune(datetime.now(UTC) - timedelta(days=1)) == 0
    assert await s3_store.prune(datetime.now(UTC) + timedelta(seconds=5)) == 3
    assert not await s3_store.exists(hashlib.sha256(b"file 0").hexdigest())


async def test_s3_store_unreachable_is_a_store_error() -> None:
    store = S3MediaStore("http://127.0.0.1:9", "b", "media/", SigV4("a", "b", REGION))
    with pytest.raises(MediaStoreError):
        await store.put(b"x", "text/plain")


def test_factory_builds_the_s3_store_from_settings(s3_endpoint: str) -> None:
    store = media_store(Settings(media_store="s3", media_s3_endpoint=s3_endpoint + "/",
                                 media_s3_bucket="bucket", media_s3_access_key=ACCESS,
                                 media_s3_secret_key="s", media_s3_region=REGION))
    assert store == S3MediaStore(s3_endpoint, "bucket", "media/", SigV4(ACCESS, "s", REGION))
    with pytest.raises(ValueError, match="MEDIA_S3_BUCKET"):
        media_store(Settings(media_store="s3"))
