"""A send load through the gateway, and a record of what it was told.

One tenant per run: a user paying with credits (Messaging API: bulk sends of 200 and
single sends) and that user's linked instance paying from its quota (Instance API).
Every request carries a body of its own, so the far side's inboxes can be matched to
the requests that produced them. Each answer is kept: a 2xx names the messages
accepted; anything else (an error status, a dropped connection) is a refusal, and a
refused request must have queued and charged nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from tests.device.test_simulator import decode_qr_data_url

BULK = 200
CREDIT, QUOTA = "credit", "quota"


@dataclass(frozen=True)
class Accepted:
    message_id: str
    number: str
    body: str
    kind: str


@dataclass(frozen=True)
class Refused:
    kind: str
    body: str
    numbers: tuple[str, ...]
    answer: str


@dataclass
class Tenant:
    user_id: int
    token: str
    instance_id: str
    keys: dict[str, str]
    credits: int
    quota: int


@dataclass
class Record:
    accepted: list[Accepted] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    requests: int = 0

    def count(self, kind: str) -> int:
        return sum(a.kind == kind for a in self.accepted)


def recipients(prefix: str, count: int) -> list[str]:
    """South African mobile numbers (27 82 + 7 digits), `prefix` keeping runs apart."""
    return [f"2782{prefix}{n:0{7 - len(prefix)}d}" for n in range(count)]


async def _checked(response: Awaitable[httpx.Response], status: int = 200) -> dict:
    answer = await response
    assert answer.status_code == status, answer.text
    body: dict = answer.json()
    return body


async def new_tenant(api: httpx.AsyncClient, admin_token: str, name: str,
                     credits: int, phone: str = "15550009999") -> Tenant:
    """A user with `credits`, and an instance of theirs linked by a simulated phone (of
    the number `phone`)."""
    user = await _checked(api.post("/api/auth/register", json={
        "username": name, "password": "tall-ladder-42"}), 201)
    login = await _checked(api.post("/api/auth/login", json={
        "username": name, "password": "tall-ladder-42"}))
    user_auth = {"Authorization": f"Bearer {login['access_token']}"}
    await _checked(api.post(f"/api/admin/users/{user['user_id']}/credits",
                            json={"amount": credits},
                            headers={"Authorization": f"Bearer {admin_token}"}))
    made = await _checked(api.post("/api/instances", json={"instance_name": name},
                                   headers=user_auth), 201)
    keys = {"publicKey": made["public_key"], "secretKey": made["secret_key"]}
    qr = await _eventually_ok(lambda: api.get("/api/v1/whatsapp/instance/qrcode",
                                              params=keys))
    scanned = await _checked(api.post("/simulator/scan", json={
        "qr": decode_qr_data_url(qr["data"]["qrCode"]), "phone_number": phone}))
    assert scanned["status"] == "Connected", scanned
    quota = await _eventually_ok(lambda: api.get("/api/v1/whatsapp/quota", params=keys))
    return Tenant(user["user_id"], login["access_token"], made["instance_id"], keys,
                  credits, int(quota["data"]["messagesRemaining"]))


async def _eventually_ok(call: Callable[[], Awaitable[httpx.Response]],
                         within: float = 15.0) -> dict:
    """The instance and its subscription reach device and billing through events."""
    deadline = time.monotonic() + within
    while True:
        answer = await call()
        if answer.status_code == 200:
            body: dict = answer.json()
            return body
        assert time.monotonic() < deadline, answer.text
        await asyncio.sleep(0.1)


class Watcher(Protocol):
    """Told of each request as it goes out and of each acceptance as it comes back."""

    def finished(self, accepted: int) -> bool: ...

    def on_request(self, path: str, accepted: int) -> None: ...

    def on_accepted(self, accepted: int, batch: int) -> None: ...

    async def steady(self) -> None:
        """Returns when bulks may go on (a test holds them back while a child is down,
        so that the messages piled up during an outage stay few)."""


class Driver:
    """Sends until the watcher says the load is finished."""

    def __init__(self, api: httpx.AsyncClient, tenant: Tenant, run: str,
                 watcher: Watcher) -> None:
        self.api, self.tenant, self.run, self.watcher = api, tenant, run, watcher
        self.record = Record()
        self.serial = itertools.count()
        self.numbers = recipients(run, BULK)

    @property
    def done(self) -> bool:
        return self.watcher.finished(len(self.record.accepted))

    def _body(self, kind: str) -> str:
        return f"load {self.run} {kind} #{next(self.serial)}"

    async def bulk(self, pause: float) -> None:
        while not self.done:
            await self.watcher.steady()
            body = self._body("bulk")
            answer = await self._post(CREDIT, body, self.numbers, "/api/messages/send-bulk-message",
                                      json={"numbers": self.numbers, "message": body})
            if answer is not None:
                ids = answer["queue_ids"]
                assert len(ids) == BULK, answer
                self._accept([Accepted(i, n, body, CREDIT) for i, n in zip(ids, self.numbers,
                                                                            strict=True)])
            await asyncio.sleep(pause)

    async def single(self, pause: float) -> None:
        for n in itertools.count():
            if self.done:
                return
            body, number = self._body("single"), self.numbers[n % BULK]
            answer = await self._post(CREDIT, body, (number,), "/api/messages/send-message",
                                      json={"number": number, "message": body})
            if answer is not None:
                self._accept([Accepted(answer["queue_id"], number, body, CREDIT)])
            await asyncio.sleep(pause)

    async def instance(self, pause: float) -> None:
        for n in itertools.count():
            if self.done:
                return
            body, number = self._body("instance"), self.numbers[-1 - n % BULK]
            answer = await self._post(QUOTA, body, (number,), "/api/v1/whatsapp/send",
                                      json={"phoneNumber": number, "message": body},
                                      params=self.tenant.keys)
            if answer is not None:
                self._accept([Accepted(answer["data"]["messageId"], number, body, QUOTA)])
            await asyncio.sleep(pause)

    async def _post(self, kind: str, body: str, numbers: tuple[str, ...] | list[str],
                    path: str, **kwargs: object) -> dict | None:
        self.record.requests += 1
        self.watcher.on_request(path, len(self.record.accepted))
        headers = {} if kind == QUOTA else {"Authorization": f"Bearer {self.tenant.token}"}
        try:
            answer = await self.api.post(path, headers=headers, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            self.record.refused.append(Refused(kind, body, tuple(numbers), repr(exc)))
            await asyncio.sleep(0.2)
            return None
        if answer.status_code // 100 != 2:
            self.record.refused.append(Refused(kind, body, tuple(numbers),
                                               f"{answer.status_code} {answer.text[:200]}"))
            await asyncio.sleep(0.2)
            return None
        result: dict = answer.json()
        return result

    def _accept(self, messages: list[Accepted]) -> None:
        self.record.accepted.extend(messages)
        self.watcher.on_accepted(len(self.record.accepted), len(messages))


async def drive(driver: Driver, bulk_senders: int = 2) -> Record:
    """Bulk, single and instance senders side by side until the watcher is satisfied."""
    await asyncio.gather(*[driver.bulk(0.05) for _ in range(bulk_senders)],
                         driver.single(0.01), driver.instance(0.01))
    return driver.record
