"""The seed's own examples, against the whole stack started the way `make run` starts it."""

from __future__ import annotations

import ast
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.device.test_simulator import decode_qr_data_url
from tests.e2e import seed_examples as seed
from tests.support.stack import Stack, start_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("stack"), processes="split",  # kills one
                          admin_user="root", admin_password="root-password-1",
                          # the seeds' clients each sign in from 127.0.0.1, a dozen a
                          # minute here: the sign-in limit is test_ratelimit.py's
                          rate_limit_auth="0")
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


def filled(code: str, stack: Stack, keys: dict[str, str]) -> str:
    for placeholder, value in (("1234567890", "27821234567"),
                               ("https://yourdomain.com", stack.url),
                               ("YOUR_PUBLIC_KEY", keys["publicKey"]),
                               ("YOUR_SECRET_KEY", keys["secretKey"]),
                               ("YOUR_KEY", keys["publicKey"]),
                               ("YOUR_SECRET", keys["secretKey"])):
        code = code.replace(placeholder, value)
    return code


def linked_instance(api: httpx.Client, unique: str) -> dict[str, str]:
    """A new user's instance, created and at once linked by a simulated phone."""
    registered = api.post("/api/auth/register", json={"username": f"inst{unique}",
                                                      "password": "securepassword"})
    assert registered.status_code == 201, registered.text
    token = login(api, f"inst{unique}", "securepassword")["access_token"]
    created = api.post("/api/instances", json={"instance_name": "Main WhatsApp"},
                       headers={"Authorization": f"Bearer {token}"})
    assert created.status_code == 201, created.text
    keys = {"publicKey": created.json()["public_key"],
            "secretKey": created.json()["secret_key"]}
    qr = api.get("/api/v1/whatsapp/instance/qrcode", params=keys)
    assert qr.status_code == 200, qr.text
    scanned = api.post("/simulator/scan", json={
        "qr": decode_qr_data_url(qr.json()["data"]["qrCode"]), "phone_number": "15550001234"})
    assert scanned.json()["status"] == "Connected", scanned.text
    return keys


def run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_instance_api_documents_clients_send_and_hear_sent(stack: Stack, unique: str,
                                                               tmp_path: Path) -> None:
    api = httpx.Client(base_url=stack.url, timeout=10)
    keys = linked_instance(api, unique)

    info = json.loads(run("sh", "-c", filled(seed.SEED_CURL_INSTANCE, stack, keys)))
    assert (info["success"], info["data"]["status"], info["data"]["isConnected"]) == (
        True, "Connected", True)
    sent = json.loads(run("sh", "-c", filled(seed.SEED_CURL_SEND, stack, keys)))
    assert (sent["success"], sent["message"], sent["data"]["status"]) == (
        True, "Message sent successfully", "sent")
    assert sent["data"]["sentAt"] and sent["data"]["phoneNumber"] == "27821234567"

    script = tmp_path / "seed.py"
    script.write_text(filled(seed.SEED_PYTHON, stack, keys))
    result, quota = (ast.literal_eval(line) for line in
                     run(sys.executable, str(script)).splitlines())
    assert (result["data"]["status"], result["data"]["message"]) == ("sent",
                                                                     "Hello from Python!")
    assert quota["data"]["messagesUsed"] == 2

    script = tmp_path / "seed.js"
    script.write_text(filled(seed.SEED_JAVASCRIPT, stack, keys))
    status_line, *logged = run("node", str(script)).splitlines()
    assert json.loads(status_line)["data"]["isConnected"] is True
    logged_text = "\n".join(logged)
    assert "status: 'sent'" in logged_text and "success: true" in logged_text
    assert "message: 'Message sent successfully'" in logged_text

    quota = json.loads(run("sh", "-c", filled(seed.SEED_CURL_QUOTA, stack, keys)))
    assert (quota["success"], quota["data"]["messagesUsed"]) == (True, 3)


def filled_ma(code: str, stack: Stack, fills: dict[str, str]) -> str:
    """A Messaging API example with its base URL and the given placeholders filled in."""
    code = code.replace(seed.MA_BASE, f"{stack.url}/api")
    for placeholder, value in fills.items():
        code = code.replace(placeholder, value)
    return code


def run_json(code: str) -> dict:
    return json.loads(run("sh", "-c", code))


def test_the_messaging_api_documents_examples_run_as_written(stack: Stack, unique: str,
                                                             tmp_path: Path) -> None:
    """Every example of the Messaging API document: its ten curl requests in order, then
    its Python, JavaScript and PHP clients, with only placeholders filled in."""
    username, email = f"new{unique}", f"{unique}@example.com"
    credentials = {"your_username": username, "your_password": "securepassword"}
    registered = run_json(filled_ma(seed.MA_CURL_REGISTER, stack, {
        '"newuser"': f'"{username}"', "[email protected]": email}))
    assert registered["message"] == "User created successfully"
    user_id = registered["user_id"]
    session = run_json(filled_ma(seed.MA_CURL_LOGIN, stack, {
        '"demo"': f'"{username}"', '"password123"': '"securepassword"'}))
    assert (session["token_type"], session["user_id"], session["username"],
            session["credits"], session["is_admin"]) == ("Bearer", user_id, username, 0, False)
    api = httpx.Client(base_url=stack.url, timeout=10)
    admin = login(api, "root", "root-password-1")["access_token"]
    assert api.post(f"/api/admin/users/{user_id}/credits", json={"amount": 20},
                    headers={"Authorization": f"Bearer {admin}"}).status_code == 200
    token = {"YOUR_JWT_TOKEN": session["access_token"]}
    api.headers["Authorization"] = f"Bearer {session['access_token']}"
    named = api.post("/api/templates", json={"name": "welcome",
                                             "body": "Hi {{name}} of {{company}}"})
    plain = api.post("/api/templates", json={"name": "news", "body": "Our news"})
    assert named.status_code == plain.status_code == 201, (named.text, plain.text)

    sent = run_json(filled_ma(seed.MA_CURL_SEND, stack, token))
    assert (sent["message"], sent["remaining_credits"]) == ("Message queued successfully", 19)
    assert sent["queue_id"].startswith("msg_") and sent["queue_position"] >= 1
    by_template = run_json(filled_ma(seed.MA_CURL_SEND_TEMPLATE, stack, token | {
        '"template_id": 123': f'"template_id": {named.json()["template"]["id"]}'}))
    assert by_template["message"] == "Message queued successfully"
    bulk = run_json(filled_ma(seed.MA_CURL_BULK, stack, token))
    assert (bulk["message"], bulk["messages_created"], len(bulk["queue_ids"]),
            bulk["remaining_credits"]) == (
        "Bulk message queued successfully for 3 numbers", 3, 3, 15)
    bulk_template = run_json(filled_ma(seed.MA_CURL_BULK_TEMPLATE, stack, token | {
        '"template_id": 123': f'"template_id": {plain.json()["template"]["id"]}'}))
    assert (bulk_template["messages_created"], bulk_template["remaining_credits"]) == (3, 12)

    wait_for_status(api, sent["queue_id"], "Read")
    status = run_json(filled_ma(seed.MA_CURL_STATUS, stack, token | {
        "msg_abc123": sent["queue_id"]}))
    assert (status["queue_id"], status["number"], status["message"], status["status"],
            status["is_complete"], status["is_error"], status["error_message"]) == (
        sent["queue_id"], "27821234567", "Hello from WhatsApp API!", "Read", True, False,
        None)
    assert api.get(f"/api/messages/message-status/{by_template['queue_id']}").json()[
        "message"] == "Hi John Smith of Example Corp"
    history = run_json(filled_ma(seed.MA_CURL_HISTORY, stack, token))
    assert history["pagination"] == {"page": 1, "per_page": 20, "total": 8, "pages": 1}
    assert {m["queue_id"] for m in history["messages"]} == {
        sent["queue_id"], by_template["queue_id"], *bulk["queue_ids"],
        *bulk_template["queue_ids"]}
    assert run_json(filled_ma(seed.MA_CURL_CREDITS, stack, token)) == {
        "credits": 12, "username": username}
    profile = run_json(filled_ma(seed.MA_CURL_PROFILE, stack, token))
    assert (profile["id"], profile["username"], profile["email"], profile["credits"],
            profile["is_admin"]) == (user_id, username, email, 12, False)

    script = tmp_path / "seed.py"
    script.write_text(filled_ma(seed.MA_PYTHON, stack, credentials))
    printed = run(sys.executable, str(script))
    assert printed.startswith("Message sent: ")
    assert ast.literal_eval(printed.removeprefix("Message sent: "))["remaining_credits"] == 11
    script = tmp_path / "seed.js"
    script.write_text(filled_ma(seed.MA_JAVASCRIPT, stack, credentials))
    logged = run("node", str(script))
    assert logged.startswith("Message sent: {") and "remaining_credits: 10" in logged
    assert "message: 'Message queued successfully'" in logged
    if shutil.which("php") is None:
        pytest.skip("no php on this machine (.ci/run installs Debian's php-cli)")
    script = tmp_path / "seed.php"
    script.write_text(filled_ma(seed.MA_PHP, stack, credentials))
    echoed = run("php", str(script))
    assert echoed.startswith("Message sent: ")
    reply = json.loads(echoed.removeprefix("Message sent: "))
    assert (reply["message"], reply["remaining_credits"]) == ("Message queued successfully", 9)
