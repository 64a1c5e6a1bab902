"""Secrets never reach the logs: a full sign-up, sign-in and Instance API session through
the real gateway and services, logged at DEBUG in the production JSON format, contains no
password, token or secret key; and the formatter redacts them in every shape they take."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from kernel.logs import JsonFormatter, redact
from tests.auth.gateway_support import api_stack


@pytest.fixture
def captured():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("test"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


async def test_a_session_logs_no_secret(database_url, fresh_nats_url, tmp_path, captured):
    password = "a-password-nobody-should-see"
    async with api_stack(database_url, fresh_nats_url, tmp_path) as api:
        await api.register("quiet", password)
        session = await api.login("quiet", password)
        headers = {"Authorization": f"Bearer {session['access_token']}"}
        pair = await api.instance(headers)
        assert (await api.v1(pair)).status_code == 200
        await api.http.get("/api/v1/whatsapp/instance",
                           params={"publicKey": pair["public_key"], "secretKey": "sk_wrong"})
        await api.http.post("/api/auth/login", json={"username": "quiet", "password": "nope"})
    logged = captured.getvalue()
    assert logged  # the services did log
    for secret in (password, session["access_token"], pair["secret_key"], "sk_wrong"):
        assert secret not in logged


@pytest.mark.parametrize("line,secret", [
    ("GET /api/v1/whatsapp/send?publicKey=pk_1&secretKey=sk_live_123 HTTP/1.1", "sk_live_123"),
    ('{"username": "a", "password": "hunter22"}', "hunter22"),
    ("{'secret_key': 'sk_abcdefghijklmnopqrstu'}", "sk_abcdefghijklmnopqrstu"),
    ("X-Secret-Key: topsecretvalue", "topsecretvalue"),
    ("authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "eyJhbGciOiJIUzI1NiJ9"),
    ("retrying with sk_AAAAAAAAAAAAAAAAAAAAAAAA", "sk_AAAAAAAAAAAAAAAAAAAAAAAA"),
])
def test_redaction_covers_every_shape(line, secret):
    assert secret not in redact(line) and "[REDACTED]" in redact(line)


def test_the_formatter_redacts_messages_and_tracebacks():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "calling %s", (
        "/send?secretKey=sk_leak_leak_leak_leak",), None)
    try:
        raise RuntimeError("password=hunter2")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    line = JsonFormatter("test").format(record)
    assert "sk_leak" not in line and "hunter2" not in line
