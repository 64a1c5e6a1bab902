"""A local S3 stand-in: moto's server mode on 127.0.0.1, one empty bucket per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from moto.server import ThreadedMotoServer

from kernel.media_s3 import S3MediaStore, SigV4

ACCESS, SECRET, REGION = "test-access", "test-secret", "eu-west-1"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_store(s3_endpoint: str) -> S3MediaStore:
    store = S3MediaStore(s3_endpoint, f"media-{uuid.uuid4().hex[:12]}", "media/",
                         SigV4(ACCESS, SECRET, REGION))
    url = httpx.URL(f"{s3_endpoint}/{store.bucket}")
    body = (f"<CreateBucketConfiguration><LocationConstraint>{REGION}"
            "</LocationConstraint></CreateBucketConfiguration>").encode()
    response = httpx.put(url, content=body, headers=store.signer.headers("PUT", url, body))
    assert response.status_code == 200, response.text
    return store
