"""The seed's own examples, against the whole stack started the way `make run` starts it."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.stack import Stack, start_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("stack"),
                          admin_user="root", admin_password="root-password-1")
    try:
        running.wait_healthy()
        yield running
    finally:
        assert running.stop() == 0


def login(api: httpx.Client, username: str, password: str) -> dict:
    response = api.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


LIFECYCLE = ["Queued", "Sending", "Sent", "Delivered", "Read"]


def wait_for_status(api: httpx.Client, queue_id: str, wanted: str, timeout: float = 15) -> dict:
    """Poll until the message has reached `wanted` or a later stage of its lifecycle."""
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        response = api.get(f"/api/messages/message-status/{queue_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] != "Failed", body
        if LIFECYCLE.index(body["status"]) >= LIFECYCLE.index(wanted):
            return body
        time.sleep(0.05)
    raise AssertionError(f"{queue_id} never reached {wanted}: last {body}")


def test_register_login_topup_send_and_track(stack: Stack, unique: str) -> None:
    api = httpx.Client(base_url=stack.url, timeout=10)
    registered = api.post("/api/auth/register", json={
        "username": f"user{unique}", "email": f"{unique}@example.com",
        "password": "securepassword", "notification_number": "27821234567"})
    assert registered.status_code == 201, registered.text
    assert registered.json()["message"] == "User created successfully"
    user_id = registered.json()["user_id"]
    assert isinstance(user_id, int)

    session = login(api, f"user{unique}", "securepassword")
    assert session["token_type"] == "Bearer"
    assert (session["user_id"], session["credits"], session["is_admin"]) == (user_id, 0, False)

    admin = login(api, "root", "root-password-1")
    assert admin["is_admin"] is True
    topped = api.post(f"/api/admin/users/{user_id}/credits", json={"amount": 5},
                      headers={"Authorization": f"Bearer {admin['access_token']}"})
    assert topped.status_code == 200, topped.text

    api.headers["Authorization"] = f"Bearer {session['access_token']}"
    sent = api.post("/api/messages/send-message",
                    json={"number": "27821234567", "message": "Hello from WhatsApp API!"})
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert body["message"] == "Message queued successfully"
    assert body["queue_id"].startswith("msg_")
    assert body["remaining_credits"] == 4
    assert (body["available_devices"], body["total_devices"]) == (3, 3)
    assert body["queue_position"] >= 1

    status = wait_for_status(api, body["queue_id"], "Sent")
    assert status["number"] == "27821234567"
    assert status["message"] == "Hello from WhatsApp API!"
    assert status["is_complete"] is True and status["is_error"] is False
    assert status["error_message"] is None
    assert status["created_at"].endswith("Z")
    read = wait_for_status(api, body["queue_id"], "Read")
    assert read["status"] == "Read" and read["updated_at"] >= read["created_at"]
    assert api.get("/api/users/user/credits").json() == {"credits": 4,
                                                         "username": f"user{unique}"}


def test_errors_use_the_documented_envelope(stack: Stack) -> None:
    api = httpx.Client(base_url=stack.url, timeout=10)
    unauthorized = api.post("/api/messages/send-message", json={"number": "1", "message": "x"})
    assert unauthorized.status_code == 401
    assert unauthorized.json() == {"error": "UNAUTHORIZED", "code": 401,
                                   "message": unauthorized.json()["message"]}
    malformed = api.post("/api/auth/login", content=b"{not json",
                         headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400
    assert malformed.json()["error"] == "INVALID_REQUEST"
    wrong = api.post("/api/auth/login", json={"username": "nobody", "password": "whatever1"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "UNAUTHORIZED"


def test_supervisor_restarts_a_killed_service(stack: Stack) -> None:
    old = stack.pid("messaging")
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pid_file = Path(stack.var_dir / "run" / "messaging.pid")
        if int(pid_file.read_text()) != old:
            break
        time.sleep(0.2)
    assert stack.pid("messaging") != old
    stack.wait_healthy(30)
    log = (stack.var_dir / "logs" / "messaging.log").read_text()
    assert "messaging listening" in log
