"""Hostile request input against the whole stack as `make run` starts it (issue 12):
a template that would render to millions of characters, correlation ids that are not ids,
and JSON nested hundreds of levels deep. Each once cost memory, a 500 or a traceback;
each is now refused or replaced, cheaply, with the documented error."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.stack import Stack, start_stack

pytestmark = pytest.mark.e2e

ADMIN = ("root", "root-password-1")
NUMBER = "27821234567"
FIT_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("hostile"), admin_user=ADMIN[0],
                          admin_password=ADMIN[1], rate_limit_auth="100",
                          processes="split")  # reads messaging's own memory
    try:
        running.wait_healthy()
        yield running
    finally:
        assert running.stop() == 0


def signed_in(api: httpx.Client, unique: str, credits: int = 0) -> dict[str, str]:
    name, password = f"u{unique}", "tall-ladder-42"
    made = api.post("/api/auth/register", json={"username": name, "password": password})
    assert made.status_code == 201, made.text
    if credits:
        boss = api.post("/api/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]})
        granted = api.post(f"/api/admin/users/{made.json()['user_id']}/credits",
                           json={"amount": credits},
                           headers={"Authorization": f"Bearer {boss.json()['access_token']}"})
        assert granted.status_code == 200, granted.text
    token = api.post("/api/auth/login", json={"username": name, "password": password})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


def log_text(stack: Stack, name: str) -> str:
    return (stack.var_dir / "logs" / f"{name}.log").read_text(errors="replace")


# --- templates -----------------------------------------------------------------------

def test_a_template_rendering_to_millions_of_characters_is_refused_unbuilt(
        stack: Stack, unique: str) -> None:
    """819 placeholders and a 1 MB value once made messaging build 838 million characters
    (RSS 110 MB -> 1.34 GB). The gateway now refuses the value; a value within the caps
    that would still render 3.3 million characters is refused by messaging, which counts
    before it builds. Nothing is charged."""
    api = httpx.Client(base_url=stack.url, timeout=30)
    api.headers.update(signed_in(api, unique, credits=3))
    made = api.post("/api/templates", json={"name": "wide", "body": "{{a}}" * 819})
    assert made.status_code == 201, made.text
    template_id = made.json()["template"]["id"]
    messaging = stack.pid("messaging")
    before = rss_mb(messaging)
    for value, refusal in [("x" * 1_000_000, "too long: at most 4096"),
                           ("x" * 4096, "message is too long: 3354624 characters, at most 4096")]:
        started = time.monotonic()
        answer = api.post("/api/messages/send-message", json={
            "number": NUMBER, "template_id": template_id, "variables": {"a": value}})
        assert time.monotonic() - started < 2.0
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "INVALID_REQUEST" and answer.json()["code"] == 400
        assert refusal in answer.json()["message"]
    bulk = api.post("/api/messages/send-bulk-message", json={
        "numbers": [NUMBER], "template_id": template_id, "variables": {"a": "x" * 4096}})
    assert bulk.status_code == 400 and "3354624 characters" in bulk.json()["message"]
    many = api.post("/api/messages/send-message", json={
        "number": NUMBER, "template_id": template_id,
        "variables": {f"v{i}": "x" for i in range(51)}})
    assert many.status_code == 400 and "Too many template variables" in many.text
    assert rss_mb(messaging) - before < 50
    assert api.get("/api/users/user/credits").json()["credits"] == 3
    fits = api.post("/api/messages/send-message", json={
        "number": NUMBER, "template_id": template_id, "variables": {"a": "y"}})
    assert fits.status_code == 200, fits.text


# --- correlation ids -----------------------------------------------------------------

async def raw_request(url: str, method: str, path: str, headers: list[tuple[bytes, bytes]],
                      body: bytes = b"") -> tuple[int, dict[bytes, bytes], bytes]:
    """One HTTP/1.1 exchange on a plain socket, with header bytes no client library
    would send (control characters, raw UTF-8)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    lines = [f"{method} {path} HTTP/1.1".encode(), f"Host: {parts.netloc}".encode(),
             b"Connection: close", f"Content-Length: {len(body)}".encode(),
             *(name + b": " + value for name, value in headers)]
    writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    head, _, content = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    found = {k.strip().lower(): v.strip() for k, _, v in
             (line.partition(b":") for line in header_lines)}
    return int(status_line.split()[1]), found, content


BAD_IDS = [b"caf\xc3\xa9-\xe2\x9c\x93", b"x" * 7000, b"a b", b"a/b", b""]


async def test_a_correlation_id_that_is_not_an_id_is_replaced(stack: Stack) -> None:
    """Non-ASCII once answered 500 before authentication and a 7 KB id was stored in
    every event: each is replaced by a fresh id now."""
    for n, bad in enumerate(BAD_IDS):
        status, headers, _ = await raw_request(
            stack.url, "POST", "/api/auth/login", [(b"Content-Type", b"application/json"),
                                                   (b"X-Correlation-Id", bad)],
            b'{"username": "nobody%d", "password": "wrong-password-1"}' % n)
        assert status == 401, (bad[:20], status)
        echoed = headers[b"x-correlation-id"].decode("ascii")
        assert FIT_ID.fullmatch(echoed) and echoed.encode() != bad
    status, headers, _ = await raw_request(stack.url, "GET", "/health",
                                           [(b"X-Correlation-Id", b"req-42.a_b")])
    assert (status, headers[b"x-correlation-id"]) == (200, b"req-42.a_b")


async def test_a_header_with_control_characters_is_refused_in_the_apis_envelope(
        stack: Stack) -> None:
    """Control characters in a header value (once echoed back in X-Correlation-Id) break
    HTTP/1.1 (RFC 9110 section 5.5): the parser refuses the request before the app sees
    it, in the envelope of the API its path belongs to, and echoes nothing."""
    bad = [(b"Content-Type", b"application/json"), (b"X-Correlation-Id", b"a\x01b\x7fc")]
    status, headers, body = await raw_request(
        stack.url, "POST", "/api/auth/login", bad, b'{"username": "x", "password": "y"}')
    assert (status, json.loads(body)["error"], json.loads(body)["code"]) == (
        400, "INVALID_REQUEST", 400)
    assert b"x-correlation-id" not in headers and b"\x01" not in body
    status, headers, body = await raw_request(stack.url, "POST", "/api/v1/whatsapp/send", bad,
                                              b"{}")
    answer = json.loads(body)
    assert (status, answer["success"], answer["error"], answer["data"]) == (
        400, False, "INVALID_REQUEST", None)
    assert headers[b"content-type"] == b"application/json"


async def test_a_request_head_over_16_kb_is_refused_in_the_apis_envelope(stack: Stack) -> None:
    """The HTTP parser would keep a header of any length until the head ended; one over
    the bound is refused once that much has come, as h11 refused it before."""
    login = b'{"username": "nobody", "password": "wrong-password-1"}'
    json_type = (b"Content-Type", b"application/json")
    status, _, _ = await raw_request(stack.url, "POST", "/api/auth/login",
                                     [json_type, (b"X-Padding", b"p" * 15_000)], login)
    assert status == 401
    for path in ("/api/auth/login", "/api/v1/whatsapp/send"):
        status, _, body = await raw_request(stack.url, "POST", path,
                                            [json_type, (b"X-Padding", b"p" * 200_000)], login)
        answer = json.loads(body)
        assert (status, answer["error"]) == (400, "INVALID_REQUEST")
        assert "Request head too large: at most 16384 bytes" in answer["message"]
    # refused by the parser and too large at once: one answer, the parser's
    status, _, body = await raw_request(
        stack.url, "POST", "/api/auth/login",
        [json_type, (b"X-Bad", b"a\x01b"), (b"X-Padding", b"p" * 200_000)], login)
    answer = json.loads(body)
    assert (status, answer["error"]) == (400, "INVALID_REQUEST")
    assert "breaks HTTP/1.1's syntax" in answer["message"]


def test_events_carry_only_a_fit_correlation_id(stack: Stack, unique: str) -> None:
    api = httpx.Client(base_url=stack.url, timeout=30)
    api.headers.update(signed_in(api, unique, credits=3))
    numbers = ["27821234567", "27821234568", "27821234569"]
    sent = api.post("/api/messages/send-bulk-message", headers={"X-Correlation-Id": "x" * 7000},
                    json={"numbers": numbers, "message": "hi"})
    assert sent.status_code == 200, sent.text
    given = sent.headers["X-Correlation-Id"]
    assert FIT_ID.fullmatch(given)
    with sqlite3.connect(stack.var_dir / "messaging.db") as db:
        metas = [json.loads(m) for (m,) in db.execute(
            "SELECT meta FROM events WHERE event_type = 'MessageQueued'")]
    ours = [m for m in metas if m["correlation_id"] == given]
    assert len(ours) == len(numbers)
    assert all(FIT_ID.fullmatch(m["correlation_id"]) for m in metas)
    assert max(len(json.dumps(m)) for m in metas) < 300


# --- nesting -------------------------------------------------------------------------

def nested(levels: int) -> bytes:
    return b'{"username": ' + b"[" * levels + b"]" * levels + b', "password": "x"}'


def test_json_nested_600_levels_is_400_without_a_traceback(stack: Stack) -> None:
    """~600 levels once answered 500 (or reset the connection) before authentication and
    logged ~350 KB of traceback per request."""
    api = httpx.Client(base_url=stack.url, timeout=30)
    logged = len(log_text(stack, "gateway"))
    for _ in range(3):
        login = api.post("/api/auth/login", content=nested(600),
                         headers={"Content-Type": "application/json"})
        assert login.status_code == 400, login.text
        assert login.json() == {"error": "INVALID_REQUEST", "code": 400,
                                "message": "JSON body nested deeper than 32 levels"}
        instance = api.post("/api/v1/whatsapp/send", params={"publicKey": "pk", "secretKey": "sk"},
                            content=b"[" * 600 + b"]" * 600,
                            headers={"Content-Type": "application/json"})
        assert instance.status_code == 400, instance.text
        assert instance.json() == {"success": False, "error": "INVALID_REQUEST", "data": None,
                                   "message": "JSON body nested deeper than 32 levels"}
    unclosed = api.post("/api/auth/login", content=b"[" * 100_000,
                        headers={"Content-Type": "application/json"})
    assert unclosed.status_code == 400
    # 32 levels are still JSON like any other: the login goes on to check the body
    shallow = api.post("/api/auth/login", content=nested(31),
                       headers={"Content-Type": "application/json"})
    assert shallow.status_code == 400 and "nested" not in shallow.text
    grown = log_text(stack, "gateway")[logged:]
    assert "Traceback" not in grown and "RecursionError" not in grown
    assert len(grown) < 10_000
