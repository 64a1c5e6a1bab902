"""Requests with the same token or key pair share auth's answers (gateway/deps.py,
kernel/gathering.py's `FreshAsks`), through the real gateway and services on both stores:
a burst costs auth fewer calls than requests, and a user disabled while requests are in
flight is refused on every request that began after the disabling answered."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx

from kernel.metrics import GRPC_REQUESTS
from tests.auth.gateway_support import api_stack

VERIFY = "/switchboard.auth.v1.AuthService/VerifyToken"
AUTHENTICATE = "/switchboard.auth.v1.AuthService/AuthenticateInstance"


def _calls(method: str) -> float:
    return sum(sample.value for metric in GRPC_REQUESTS.collect() for sample in metric.samples
               if sample.name.endswith("_total") and sample.labels.get("method") == method)


async def test_a_burst_with_one_token_shares_auths_answers(database_url, fresh_nats_url,
                                                          tmp_path):
    async with api_stack(database_url, fresh_nats_url, tmp_path) as api:
        _, headers = await api.user("busy")
        pair = await api.instance(headers)
        keys = {"X-Public-Key": pair["public_key"], "X-Secret-Key": pair["secret_key"]}
        assert (await api.v1(pair)).status_code == 200
        verified, authenticated = _calls(VERIFY), _calls(AUTHENTICATE)
        answers = await asyncio.gather(
            *(api.http.get("/api/users/user/credits", headers=headers) for _ in range(32)),
            *(api.http.get("/api/v1/whatsapp/instance", headers=keys) for _ in range(32)))
        assert [a.status_code for a in answers] == [200] * 64
        assert 1 <= _calls(VERIFY) - verified < 32
        assert 1 <= _calls(AUTHENTICATE) - authenticated < 32


Send = Callable[[], Awaitable[httpx.Response]]


async def _hammer(send: Send, after: asyncio.Event, seen: list[tuple[bool, int]]) -> None:
    """Requests one after another, each noted with whether it began after `after` was set
    and its status, until four have begun after."""
    began_after = 0
    while began_after < 4:
        began_after += after.is_set()
        seen.append((after.is_set(), (await send()).status_code))


async def test_requests_begun_after_a_disabling_are_refused_while_others_are_in_flight(
        database_url, fresh_nats_url, tmp_path):
    async with api_stack(database_url, fresh_nats_url, tmp_path) as api:
        user_id, headers = await api.user("suspect")
        pair = await api.instance(headers)
        keys = {"X-Public-Key": pair["public_key"], "X-Secret-Key": pair["secret_key"]}
        assert (await api.v1(pair)).status_code == 200
        boss = await api.boss()

        def by_token() -> Awaitable[httpx.Response]:
            return api.http.get("/api/users/user/credits", headers=headers)

        def by_keys() -> Awaitable[httpx.Response]:
            return api.http.get("/api/v1/whatsapp/instance", headers=keys)

        first = await asyncio.gather(*(by_token() for _ in range(8)),
                                     *(by_keys() for _ in range(8)))
        assert {answer.status_code for answer in first} == {200}
        after = asyncio.Event()
        tokens: list[tuple[bool, int]] = []
        pairs: list[tuple[bool, int]] = []
        workers = [asyncio.create_task(_hammer(by_token, after, tokens)) for _ in range(8)]
        workers += [asyncio.create_task(_hammer(by_keys, after, pairs)) for _ in range(8)]
        await asyncio.sleep(0.2)  # requests in flight when the disabling comes
        patched = await api.http.patch(f"/api/admin/users/{user_id}",
                                       json={"disabled": True}, headers=boss)
        assert patched.status_code == 200
        after.set()
        await asyncio.gather(*workers)
    # requests in flight while auth committed it may go either way; none begun after
    assert [status for began_after, status in tokens if began_after] == [401] * 32
    assert [status for began_after, status in pairs if began_after] == [401] * 32
