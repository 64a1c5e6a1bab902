"""The seed's own examples, against the whole stack started the way `make run` starts it."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.device.test_simulator import decode_qr_data_url
from tests.support.stack import Stack, start_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("stack"), processes="split",  # kills one
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


# The Instance API document's own clients, verbatim: only its base URL, key pair and
# recipient placeholders are filled in (`filled`).
SEED_CURL_SEND = """curl -X POST "https://yourdomain.com/api/v1/whatsapp/send?publicKey=YOUR_KEY&secretKey=YOUR_SECRET" \\
-H "Content-Type: application/json" \\
-d '{"phoneNumber":"1234567890","message":"Hello World!"}'"""  # noqa: E501
SEED_CURL_INSTANCE = 'curl -X GET "https://yourdomain.com/api/v1/whatsapp/instance?publicKey=YOUR_KEY&secretKey=YOUR_SECRET"'  # noqa: E501

SEED_PYTHON = """import requests
class WhatsAppAPI:
    def __init__(self, public_key, secret_key, base_url):
        self.public_key = public_key
        self.secret_key = secret_key
        self.base_url = base_url
    def send_message(self, phone_number, message):
        url = f"{self.base_url}/api/v1/whatsapp/send"
        params = {
            'publicKey': self.public_key,
            'secretKey': self.secret_key
        }
        data = {
            'phoneNumber': phone_number,
            'message': message
        }
        response = requests.post(url, params=params, json=data)
        return response.json()
    def get_quota(self):
        url = f"{self.base_url}/api/v1/whatsapp/quota"
        params = {
            'publicKey': self.public_key,
            'secretKey': self.secret_key
        }
        response = requests.get(url, params=params)
        return response.json()
# Usage
api = WhatsAppAPI("YOUR_PUBLIC_KEY", "YOUR_SECRET_KEY", "https://yourdomain.com")
result = api.send_message("1234567890", "Hello from Python!")
print(result)
print(api.get_quota())
"""

SEED_JAVASCRIPT = """// Send message using fetch
async function sendWhatsAppMessage(publicKey, secretKey, phoneNumber, message) {
const response = await fetch(
`https://yourdomain.com/api/v1/whatsapp/send?publicKey=${publicKey}&secretKey=${secretKey}`,
{
method: 'POST',
headers: {
'Content-Type': 'application/json',
},
body: JSON.stringify({ phoneNumber, message })
}
);
const data = await response.json();
console.log(data);
}
// Get instance status
async function getInstanceStatus(publicKey, secretKey) {
const response = await fetch(
`https://yourdomain.com/api/v1/whatsapp/instance?publicKey=${publicKey}&secretKey=${secretKey}`
);
return await response.json();
}
(async () => {
console.log(JSON.stringify(await getInstanceStatus('YOUR_PUBLIC_KEY', 'YOUR_SECRET_KEY')));
await sendWhatsAppMessage('YOUR_PUBLIC_KEY', 'YOUR_SECRET_KEY', '1234567890', 'Hello from JS!');
})();
"""


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

    info = json.loads(run("sh", "-c", filled(SEED_CURL_INSTANCE, stack, keys)))
    assert (info["success"], info["data"]["status"], info["data"]["isConnected"]) == (
        True, "Connected", True)
    sent = json.loads(run("sh", "-c", filled(SEED_CURL_SEND, stack, keys)))
    assert (sent["success"], sent["message"], sent["data"]["status"]) == (
        True, "Message sent successfully", "sent")
    assert sent["data"]["sentAt"] and sent["data"]["phoneNumber"] == "27821234567"

    script = tmp_path / "seed.py"
    script.write_text(filled(SEED_PYTHON, stack, keys))
    result, quota = (ast.literal_eval(line) for line in
                     run(sys.executable, str(script)).splitlines())
    assert (result["data"]["status"], result["data"]["message"]) == ("sent",
                                                                     "Hello from Python!")
    assert quota["data"]["messagesUsed"] == 2

    script = tmp_path / "seed.js"
    script.write_text(filled(SEED_JAVASCRIPT, stack, keys))
    status_line, *logged = run("node", str(script)).splitlines()
    assert json.loads(status_line)["data"]["isConnected"] is True
    logged_text = "\n".join(logged)
    assert "status: 'sent'" in logged_text and "success: true" in logged_text
    assert "message: 'Message sent successfully'" in logged_text
