"""The media store on S3-compatible object storage (AWS S3, MinIO, Ceph, R2...): one object
per hash, `<bucket>/<prefix><sha256>`, addressed by path, its Content-Type the MIME type.
Requests are signed with AWS Signature Version 4 here, over httpx, so the runtime needs no
S3 SDK."""

from __future__ import annotations

import hashlib
import hmac
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx

from kernel.media import (
    DEFAULT_MIME,
    MediaNotFoundError,
    MediaRef,
    MediaStoreError,
    checked_hash,
    digest,
)

if TYPE_CHECKING:
    from kernel.config import Settings

S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
TIMEOUT = httpx.Timeout(30.0, connect=5.0)


@dataclass(frozen=True)
class SigV4:
    access_key: str
    secret_key: str
    region: str

    def headers(self, method: str, url: httpx.URL, body: bytes,
                now: datetime | None = None) -> dict[str, str]:
        """The signed headers of one request (host, x-amz-date, x-amz-content-sha256,
        Authorization)."""
        now = now or datetime.now(UTC)
        stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        host = url.netloc.decode("ascii")
        signed = {"host": host, "x-amz-content-sha256": digest(body), "x-amz-date": stamp}
        names = ";".join(sorted(signed))
        query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
                         for k, v in sorted(url.params.multi_items()))
        canonical = "\n".join([
            method, quote(url.path, safe="/-_.~"), query,
            "".join(f"{k}:{signed[k]}\n" for k in sorted(signed)), names, signed[
                "x-amz-content-sha256"]])
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope,
                             hashlib.sha256(canonical.encode()).hexdigest()])
        key = f"AWS4{self.secret_key}".encode()
        for part in (day, self.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        return {**signed, "Authorization": (
            f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
            f"SignedHeaders={names}, Signature={signature}")}


@dataclass(frozen=True)
class S3MediaStore:
    endpoint: str
    bucket: str
    prefix: str
    signer: SigV4

    @classmethod
    def from_settings(cls, settings: Settings) -> S3MediaStore:
        if not (settings.media_s3_endpoint and settings.media_s3_bucket):
            raise ValueError("SWITCHBOARD_MEDIA_STORE=s3 needs SWITCHBOARD_MEDIA_S3_ENDPOINT "
                             "and SWITCHBOARD_MEDIA_S3_BUCKET (docs/configuration.md)")
        return cls(settings.media_s3_endpoint.rstrip("/"), settings.media_s3_bucket,
                   settings.media_s3_prefix,
                   SigV4(settings.media_s3_access_key, settings.media_s3_secret_key,
                         settings.media_s3_region))

    def _url(self, key: str = "", params: dict[str, str] | None = None) -> httpx.URL:
        path = f"/{self.bucket}/{key}" if key else f"/{self.bucket}"
        return httpx.URL(self.endpoint + quote(path, safe="/-_.~"), params=params)

    async def _call(self, method: str, url: httpx.URL, body: bytes = b"",
                    headers: dict[str, str] | None = None) -> httpx.Response:
        signed = {**(headers or {}), **self.signer.headers(method, url, body)}
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT) as client:
                response = await client.request(method, url, content=body, headers=signed)
        except httpx.HTTPError as exc:
            raise MediaStoreError(f"object store unreachable: {exc!r}") from exc
        if response.status_code >= 300 and response.status_code != 404:
            raise MediaStoreError(f"object store answered {response.status_code} to "
                                  f"{method}: {response.text[:200]}")
        return response

    async def put(self, content: bytes, mime_type: str) -> MediaRef:
        ref = MediaRef(digest(content), len(content), mime_type or DEFAULT_MIME)
        await self._call("PUT", self._url(self.prefix + ref.sha256), content,
                         {"Content-Type": ref.mime_type})
        return ref

    async def get(self, sha256: str) -> bytes:
        response = await self._call("GET", self._url(self.prefix + checked_hash(sha256)))
        if response.status_code == 404:
            raise MediaNotFoundError(sha256)
        return response.content

    async def head(self, sha256: str) -> MediaRef | None:
        try:
            key = self.prefix + checked_hash(sha256)
        except MediaNotFoundError:
            return None
        response = await self._call("HEAD", self._url(key))
        if response.status_code == 404:
            return None
        return MediaRef(sha256, int(response.headers["content-length"]),
                        response.headers.get("content-type", DEFAULT_MIME))

    async def exists(self, sha256: str) -> bool:
        return await self.head(sha256) is not None

    async def prune(self, older_than: datetime) -> int:
        removed, token = 0, ""
        while True:
            params = {"list-type": "2", "prefix": self.prefix}
            if token:
                params["continuation-token"] = token
            page = ET.fromstring((await self._call("GET", self._url(params=params))).content)
            for item in page.iter(f"{S3_NS}Contents"):
                modified = datetime.fromisoformat(
                    item.findtext(f"{S3_NS}LastModified", "").replace("Z", "+00:00"))
                if modified < older_than:
                    await self._call("DELETE", self._url(item.findtext(f"{S3_NS}Key", "")))
                    removed += 1
            token = page.findtext(f"{S3_NS}NextContinuationToken", "")
            if page.findtext(f"{S3_NS}IsTruncated") != "true" or not token:
                return removed
