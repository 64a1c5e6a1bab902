"""NATS as `switchboard up` runs it: no client gets in without a password, each service's
user does only its own work (launcher/natsauth.py), and nothing on the bus carries a
password hash or a webhook secret, while the stack still sends and delivers webhooks."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import nats
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.errors import KeyNotFoundError

from kernel import bus
from kernel.replay import replay
from launcher.natsauth import default_setting
from switchboard.auth.v1 import events_pb2 as auth_events
from switchboard.messaging.v1 import events_pb2 as messaging_events
from tests.gateway.webhook_receiver import receiver
from tests.support.services import gateway_client, running_services
from tests.support.stack import Stack, start_stack

pytestmark = pytest.mark.e2e
ADMIN = ("root", "root-password-1")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("natsauth"), admin_user=ADMIN[0],
                          admin_password=ADMIN[1],
                          webhook_allow_private="127.0.0.0/8")  # the test receiver's
    try:
        running.wait_healthy()
        yield running
    finally:
        assert running.stop() == 0


def nats_url(stack: Stack) -> str:
    """The stack's nats-server, no credentials."""
    return f"nats://127.0.0.1:{stack.env['SWITCHBOARD_NATS_PORT']}"


class Client:
    """A connection as one of the stack's users, recording the server's complaints."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.nc = NATS()

    async def connect(self, stack: Stack, user: str) -> Client:
        async def on_error(exc: Exception) -> None:
            self.errors.append(str(exc))

        await self.nc.connect(stack.nats_url(user), inbox_prefix=bus.inbox_prefix(user),
                              error_cb=on_error)
        return self

    async def refused(self, subject: str) -> bool:
        """Publish once; True when the server answers with a permissions violation."""
        await self.nc.publish(subject, b"forged")
        await self.nc.flush()
        for _ in range(100):
            if any("permissions violation" in e and subject.lower() in e for e in self.errors):
                return True
            await asyncio.sleep(0.02)
        return False


@pytest.fixture
async def as_user(stack: Stack) -> AsyncIterator:
    clients: list[Client] = []

    async def connect(user: str) -> Client:
        clients.append(await Client().connect(stack, user))
        return clients[-1]

    yield connect
    for client in clients:
        await client.nc.close()


async def test_clients_without_the_right_password_are_refused(stack: Stack) -> None:
    billing = stack.nats_url("billing")
    for url in (nats_url(stack), billing.replace("billing:", "billing:guessed", 1),
                billing.replace("billing:", "device:", 1),  # another user's password
                billing.replace("billing:", "admin:", 1)):
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await nats.connect(url, allow_reconnect=False, connect_timeout=2)
    await (await nats.connect(billing, allow_reconnect=False)).close()


@pytest.mark.parametrize(("user", "subject"), [
    ("billing", "sb.auth.PasswordSet"),
    ("device", "sb.messaging.MessageQueued"),
    ("gateway", "sb.billing.CreditsGranted"),
])
async def test_a_service_cannot_publish_another_services_events(
        stack: Stack, as_user, user: str, subject: str) -> None:
    owner = subject.split(".")[1]
    js = (await as_user(owner)).nc.jetstream()
    before = (await js.stream_info(bus.stream_name(owner))).state.last_seq
    assert await (await as_user(user)).refused(subject)
    assert (await js.stream_info(bus.stream_name(owner))).state.last_seq == before


# (bucket setting, its owner): who else may write there? Nobody.
BUCKETS = {"rate_limit_bucket": "gateway", "login_throttle_bucket": "auth",
           "device_lease_bucket": "device"}


@pytest.mark.parametrize(("user", "bucket"), [
    *((user, "rate_limit_bucket") for user in ("auth", "billing", "messaging", "device")),
    ("gateway", "login_throttle_bucket"), ("messaging", "device_lease_bucket"),
])
async def test_only_a_buckets_owner_writes_its_counters(
        stack: Stack, as_user, user: str, bucket: str) -> None:
    name, key = default_setting(bucket), f"user.{uuid.uuid4().hex}"
    intruder = await as_user(user)
    assert await intruder.refused(f"$KV.{name}.{key}")
    with pytest.raises(nats.errors.TimeoutError):
        await intruder.nc.jetstream(timeout=0.5).key_value(name)
    counters = await (await as_user(BUCKETS[bucket])).nc.jetstream().key_value(name)
    with pytest.raises(KeyNotFoundError):
        await counters.get(key)


async def _login(api: httpx.AsyncClient, username: str, password: str) -> str:
    answer = await api.post("/api/auth/login", json={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


async def _new_user(api: httpx.AsyncClient, credits: int = 0) -> int:
    """A registered user (a PasswordSet), signed in on `api` from now on."""
    name = f"ann{uuid.uuid4().hex[:8]}"
    made = await api.post("/api/auth/register",
                          json={"username": name, "password": "ann-password-1"})
    assert made.status_code == 201, made.text
    user_id = int(made.json()["user_id"])
    if credits:
        granted = await api.post(f"/api/admin/users/{user_id}/credits",
                                 json={"amount": credits},
                                 headers={"Authorization": f"Bearer {await _login(api, *ADMIN)}"})
        assert granted.status_code == 200, granted.text
    api.headers["Authorization"] = f"Bearer {await _login(api, name, 'ann-password-1')}"
    return user_id


async def _hooked_send(api: httpx.AsyncClient, secret: str) -> str:
    """A webhook registered with `secret` gets a message's statuses, validly signed."""
    with receiver(secret) as hook:
        hooked = await api.post("/api/webhooks", json={"url": hook.url, "secret": secret})
        assert hooked.status_code == 201, hooked.text
        sent = await api.post("/api/messages/send-message",
                              json={"number": "27821234567", "message": "hello"})
        assert sent.status_code == 200, sent.text
        for _ in range(300):
            if any(b["queue_id"] == sent.json()["queue_id"] and b["status"] == "Read"
                   for b in hook.accepted()):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"no Read delivered; calls: {hook.calls}")
    assert all(ok for _, _, _, ok in hook.calls), hook.calls
    return hook.url


async def _live(nc: NATS, subjects: list[str]) -> list[Msg]:
    """Every message on `subjects` from now on."""
    seen: list[Msg] = []

    async def keep(msg: Msg) -> None:
        seen.append(msg)

    for s in subjects:
        await nc.subscribe(s, cb=keep)
    await nc.flush()
    return seen


def _leaks(blobs: list[bytes], secret: str) -> list[bytes]:
    return [b for b in blobs if b"$argon2" in b or secret.encode() in b]


async def test_the_bus_carries_no_password_hash_nor_webhook_secret(stack: Stack,
                                                                    as_user) -> None:
    """Billing reads every stream: what it sees, live and stored, is all the bus holds."""
    reader = (await as_user("billing")).nc
    live = await _live(reader, [bus.subject(s) for s in ("auth", "billing", "messaging",
                                                         "device")])
    secret = f"whsec_{uuid.uuid4().hex}"
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as api:
        user_id = await _new_user(api, credits=1)
        hook_url = await _hooked_send(api, secret)

    stored = [e for service in ("auth", "messaging") async for batch in replay(
        reader.jetstream(), service, [bus.subject(service)], 500) for e in batch]
    assert not _leaks([m.data + repr(m.headers).encode() for m in live] +
                      [e.payload for e in stored], secret)
    password_set = [auth_events.PasswordSet.FromString(e.payload) for e in stored
                    if e.event_type == "PasswordSet"]
    assert user_id in [p.user_id for p in password_set]  # published, without its hash
    hooks = [messaging_events.WebhookRegistered.FromString(e.payload) for e in stored
             if e.event_type == "WebhookRegistered"]
    assert [h.url for h in hooks if h.user_id == user_id] == [hook_url]
    subjects = {m.subject for m in live}
    assert {"sb.auth.PasswordSet", "sb.messaging.WebhookRegistered"} <= subjects, subjects


async def test_a_full_rights_subscriber_to_everything_sees_no_secret(
        fresh_nats_url: str, tmp_path: Path) -> None:
    """The same, in one process on an open server: `sb.>` with every right."""
    nc = await nats.connect(fresh_nats_url)
    live = await _live(nc, ["sb.>"])
    secret = f"whsec_{uuid.uuid4().hex}"
    async with running_services(f"sqlite+aiosqlite:///{tmp_path}/s.db", fresh_nats_url,
                                tmp_path, webhook_allow_private="127.0.0.0/8") as settings, \
            gateway_client(settings) as api:
        await _new_user(api)
        made = await api.post("/api/instances", json={"instance_name": "leak-check"})
        assert made.status_code in (200, 201), made.text
        hooked = await api.post("/api/webhooks",
                                json={"url": "http://127.0.0.1:9/hook", "secret": secret})
        assert hooked.status_code == 201, hooked.text
        await asyncio.sleep(0.5)  # the relays' next pass
    await nc.close()
    assert not _leaks([m.data for m in live], secret)
    created = [auth_events.InstanceCreated.FromString(m.data) for m in live
               if m.subject == "sb.auth.InstanceCreated"]
    assert created and all(c.public_key and not c.secret_hash for c in created)
    subjects = {m.subject for m in live}
    assert {"sb.auth.PasswordSet", "sb.messaging.WebhookRegistered"} <= subjects, subjects


def test_a_rebuild_beside_the_stack_connects_as_the_views_owner(stack: Stack) -> None:
    env = {**stack.env, "SWITCHBOARD_NATS_URL": nats_url(stack)}
    done = subprocess.run([sys.executable, "-m", "launcher", "projections", "rebuild",
                           "history"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("rebuilt history: ")


def test_a_rebuild_finds_the_stacks_nats_from_its_port_alone(stack: Stack) -> None:
    """`up` derives its NATS address from SWITCHBOARD_NATS_PORT; a command beside it, given
    the same environment and no URL, reaches the same server (not another on :4222)."""
    assert "SWITCHBOARD_NATS_URL" not in stack.env and "SWITCHBOARD_NATS_PORT" in stack.env
    done = subprocess.run([sys.executable, "-m", "launcher", "projections", "rebuild",
                           "history"], env=stack.env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("rebuilt history: ")
