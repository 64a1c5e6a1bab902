"""Sending media through the real gateway and the four services, on both stores: by URL
(served by a real HTTP server on 127.0.0.1) and by upload, through both APIs and the bulk
send; the simulated phone receives the file and keeps the hash of the bytes it got, its
type, file name and caption. WhatsApp's type and size limits and the address guard refuse
before anything is queued or charged."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.gateway.test_billing_credits import credits
from tests.gateway.test_bulk_send import ADMIN, queued, user_with
from tests.gateway.test_v1_send import RECIPIENT, gateway_api, linked

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
PDF = b"%PDF-1.4\n" + b"invoice lines\n" * 500
FILES = {"/photo.png": (PNG, "image/png"), "/invoice": (PDF, "application/pdf"),
         "/page.html": (b"<html></html>", "text/html"),
         "/big.png": (b"\0" * (5 * 1024 * 1024 + 1), "image/png"),
         "/moved.png": (b"", "")}
NUMBERS = ["27821234567", "27829876543"]


class Files(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/moved.png":
            self.send_response(302)
            self.send_header("Location", "/photo.png")
            self.end_headers()
            return
        if self.path not in FILES:
            self.send_error(404)
            return
        content, mime = FILES[self.path]
        self.send_response(200)
        self.send_header("Content-Type", mime)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def files() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
async def api(database_url, fresh_nats_url, tmp_path):
    """Media URLs may point at this machine's loopback (the file server above)."""
    async with gateway_api(database_url, fresh_nats_url, tmp_path, **ADMIN,
                           media_url_allow_private="127.0.0.1/32") as client:
        yield client


async def received(api: httpx.AsyncClient, number: str, expected: int = 1) -> list[dict]:
    for _ in range(200):
        found = (await api.get(f"/simulator/inbox/{number}")).json()["messages"]
        if len(found) >= expected:
            return list(found)
        await asyncio.sleep(0.05)
    raise AssertionError(f"{number} received {found}")


def upload(content: bytes, mime: str, name: str) -> dict[str, tuple[str, bytes, str]]:
    return {"file": (name, content, mime)}


async def test_messaging_api_sends_an_image_by_url_for_one_credit(api, files):
    headers = await user_with(api, "ann", 5)
    sent = await api.post("/api/messages/send-media", headers=headers, json={
        "number": "+" + RECIPIENT, "media_url": f"{files}/photo.png",
        "caption": "Our new shop"})
    assert sent.status_code == 200, sent.text
    body = sent.json()
    sha = hashlib.sha256(PNG).hexdigest()
    assert body["message"] == "Message queued successfully" and body["remaining_credits"] == 4
    assert body["media"] == {"sha256": sha, "type": "image", "mime_type": "image/png",
                             "size_bytes": len(PNG), "filename": "photo.png"}
    [got] = await received(api, RECIPIENT)
    assert got["body"] == "Our new shop"
    assert got["media"] == {"sha256": sha, "type": "image", "mime_type": "image/png",
                            "size_bytes": len(PNG), "filename": "photo.png"}
    status = (await api.get(f"/api/messages/message-status/{body['queue_id']}",
                            headers=headers)).json()
    assert status["message"] == "Our new shop"
    assert await credits(api, headers) == 4


async def test_messaging_api_sends_an_uploaded_document_with_its_name(api):
    headers = await user_with(api, "bob", 2)
    sent = await api.post("/api/messages/send-media", headers=headers,
                          data={"number": RECIPIENT, "caption": "March invoice"},
                          files=upload(PDF, "application/pdf", "invoice-03.pdf"))
    assert sent.status_code == 200, sent.text
    [got] = await received(api, RECIPIENT)
    assert (got["body"], got["media"]["sha256"], got["media"]["type"],
            got["media"]["filename"]) == ("March invoice", hashlib.sha256(PDF).hexdigest(),
                                          "document", "invoice-03.pdf")
    assert await credits(api, headers) == 1


async def test_instance_api_sends_media_by_url_and_by_upload_from_its_quota(api, files):
    owner = await linked(api, "cat")
    by_url = await api.post("/api/v1/whatsapp/send-media", params=owner["keys"], json={
        "phoneNumber": RECIPIENT, "mediaUrl": f"{files}/invoice", "filename": "bill.pdf"})
    assert by_url.status_code == 200, by_url.text
    answer = by_url.json()
    assert (answer["success"], answer["message"]) == (True, "Message sent successfully")
    assert answer["data"]["status"] == "sent" and answer["data"]["quotaUsed"] == 1
    assert answer["data"]["media"]["type"] == "document"
    by_upload = await api.post("/api/v1/whatsapp/send-media", params=owner["keys"],
                               data={"phoneNumber": RECIPIENT, "caption": "look"},
                               files=upload(PNG, "image/png", "snap.png"))
    assert by_upload.status_code == 200, by_upload.text
    assert by_upload.json()["data"]["quotaUsed"] == 2
    got = await received(api, RECIPIENT, 2)
    assert [(m["body"], m["media"]["sha256"], m["media"]["type"], m["media"]["filename"],
             m["device_id"]) for m in got] == [
        ("", hashlib.sha256(PDF).hexdigest(), "document", "bill.pdf", owner["instance_id"]),
        ("look", hashlib.sha256(PNG).hexdigest(), "image", "snap.png", owner["instance_id"])]


async def test_bulk_send_carries_one_file_to_every_number(api, files):
    headers = await user_with(api, "dan", 3)
    sent = await api.post("/api/messages/send-bulk-message", headers=headers, json={
        "numbers": NUMBERS, "message": "Menu", "media_url": f"{files}/photo.png"})
    assert sent.status_code == 200, sent.text
    assert sent.json()["remaining_credits"] == 1
    for number in NUMBERS:
        [got] = await received(api, number)
        assert (got["body"], got["media"]["sha256"]) == ("Menu", hashlib.sha256(PNG).hexdigest())


REFUSALS = [
    ({"files": upload(b"<html></html>", "text/html", "page.html")}, 415,
     "UNSUPPORTED_MEDIA_TYPE"),
    ({"files": upload(b"\0" * (5 * 1024 * 1024 + 1), "image/png", "big.png")}, 413,
     "MEDIA_TOO_LARGE"),
    ({"files": upload(b"", "image/png", "empty.png")}, 400, "INVALID_REQUEST"),
    ({"url": "/page.html"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
    ({"url": "/big.png"}, 413, "MEDIA_TOO_LARGE"),
    ({"url": "/missing.png"}, 400, "MEDIA_FETCH_FAILED"),
    ({"url": "/moved.png"}, 400, "MEDIA_FETCH_FAILED"),
    ({"raw_url": "http://169.254.169.254/latest/meta-data"}, 400, "MEDIA_URL_REFUSED"),
    ({"raw_url": "http://[::1]:9/x.png"}, 400, "MEDIA_URL_REFUSED"),
    ({"raw_url": "http://0x0a000001/x.png"}, 400, "MEDIA_URL_REFUSED"),  # 10.0.0.1
    ({"raw_url": "file:///etc/passwd"}, 400, "INVALID_REQUEST"),
]


def refused_request(files: str, case: dict, number_field: str, url_field: str) -> dict:
    if "files" in case:
        return {"data": {number_field: RECIPIENT}, "files": case["files"]}
    url = case.get("raw_url") or files + case["url"]
    return {"json": {number_field: RECIPIENT, url_field: url}}


@pytest.mark.parametrize(("case", "status", "code"), REFUSALS)
async def test_refusals_answer_their_code_and_charge_nothing(api, files, case, status, code):
    headers = await user_with(api, "eve", 2)
    answer = await api.post("/api/messages/send-media", headers=headers,
                            **refused_request(files, case, "number", "media_url"))
    assert (answer.status_code, answer.json()["error"]) == (status, code), answer.text
    assert answer.json()["code"] == status
    owner = await linked(api, "fay")
    v1 = await api.post("/api/v1/whatsapp/send-media", params=owner["keys"],
                        **refused_request(files, case, "phoneNumber", "mediaUrl"))
    assert (v1.status_code, v1.json()["error"], v1.json()["success"]) == (status, code, False)
    assert await credits(api, headers) == 2 and await queued(api, headers) == 0
    quota = await api.get("/api/v1/whatsapp/quota", params=owner["keys"])
    assert quota.json()["data"]["messagesUsed"] == 0


async def test_loopback_media_urls_are_refused_by_default(database_url, fresh_nats_url,
                                                          tmp_path, files):
    async with gateway_api(database_url, fresh_nats_url, tmp_path, **ADMIN) as api:
        headers = await user_with(api, "gus", 1)
        answer = await api.post("/api/messages/send-media", headers=headers, json={
            "number": RECIPIENT, "media_url": f"{files}/photo.png"})
        assert (answer.status_code, answer.json()["error"]) == (400, "MEDIA_URL_REFUSED")
        assert await credits(api, headers) == 1 and await queued(api, headers) == 0


@pytest.mark.parametrize("request_kwargs", [
    {"json": {"number": RECIPIENT}},
    {"json": {"number": RECIPIENT, "media_url": "http://x/a.png", "image": "x"}},
    {"data": {"number": RECIPIENT, "media_url": "http://x/a.png"},
     "files": upload(PNG, "image/png", "a.png")},
    {"data": {"number": RECIPIENT, "colour": "red"}, "files": upload(PNG, "image/png", "a.png")},
    {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
])
async def test_malformed_media_requests_are_invalid(api, request_kwargs):
    headers = await user_with(api, "hal", 1)
    kwargs = dict(request_kwargs)
    kwargs["headers"] = {**headers, **kwargs.get("headers", {})}
    answer = await api.post("/api/messages/send-media", **kwargs)
    assert (answer.status_code, answer.json()["error"]) == (400, "INVALID_REQUEST"), answer.text
    assert await credits(api, headers) == 1


async def test_an_unreachable_media_store_is_503_and_charges_nothing(
        database_url, fresh_nats_url, tmp_path, files):
    async with gateway_api(database_url, fresh_nats_url, tmp_path, **ADMIN,
                           media_url_allow_private="127.0.0.1/32", media_store="s3",
                           media_s3_endpoint="http://127.0.0.1:9", media_s3_bucket="b") as api:
        headers = await user_with(api, "ivy", 1)
        uploaded = await api.post("/api/messages/send-media", headers=headers,
                                  data={"number": RECIPIENT},
                                  files=upload(PNG, "image/png", "a.png"))
        by_url = await api.post("/api/messages/send-media", headers=headers, json={
            "number": RECIPIENT, "media_url": f"{files}/photo.png"})
        for answer in (uploaded, by_url):
            assert (answer.status_code, answer.json()["error"]) == (503, "SERVICE_UNAVAILABLE")
        assert await credits(api, headers) == 1 and await queued(api, headers) == 0
