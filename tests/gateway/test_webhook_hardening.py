"""Webhook registration through the real gateway and services, with the default settings
(no allow-list): URLs the HTTP client cannot use and every spelling of a private,
loopback, link-local or reserved target are 400 INVALID_REQUEST and store nothing; a user
has at most 10 webhooks."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.gateway.test_billing_credits import ADMIN, signed_in
from tests.support.services import gateway_client, running_services

POISON = ["http://hooks.example:99999/h", "http://hooks.example/a\r\nb",
          "http://hooks.example/a\tb", "http://xn--/", "http://hooks.example:0/"]
SSRF = ["http://127.0.0.1:50153/", "http://localhost:8080/", "http://2130706433/",
        "http://0x7f000001:4222/", "http://127.1/", "http://[::1]:50151/",
        "http://[::ffff:127.0.0.1]/", "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/", "http://172.16.5.4/", "http://192.168.0.10/",
        "http://100.64.1.1/", "http://224.0.0.1/", "http://0.0.0.0:8080/",
        "http://[fe80::1]/", "http://[fd00::1]/"]
PUBLIC = "https://93.184.215.14/hooks/{}"  # a public literal: no lookup, nothing sent


def refused(answer: httpx.Response, words: str) -> None:
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert (body["error"], body["code"]) == ("INVALID_REQUEST", 400) and words in body["message"]


async def test_unusable_and_private_targets_are_refused_at_registration(
        database_url: str, fresh_nats_url: str, tmp_path: Path) -> None:
    async with running_services(database_url, fresh_nats_url, tmp_path,
                                **ADMIN) as settings, gateway_client(settings) as api:
        ann = await signed_in(api, "ann")
        for url in POISON:
            refused(await api.post("/api/webhooks", headers=ann, json={"url": url}), "url")
        for url in SSRF:
            refused(await api.post("/api/webhooks", headers=ann, json={"url": url}),
                    "public address")
        assert (await api.get("/api/webhooks", headers=ann)).json() == {"webhooks": []}


async def test_a_user_has_at_most_ten_webhooks(
        database_url: str, fresh_nats_url: str, tmp_path: Path) -> None:
    async with running_services(database_url, fresh_nats_url, tmp_path,
                                **ADMIN) as settings, gateway_client(settings) as api:
        ann, bob = await signed_in(api, "ann"), await signed_in(api, "bob")
        made = []
        for n in range(10):
            answer = await api.post("/api/webhooks", headers=ann, json={"url": PUBLIC.format(n)})
            assert answer.status_code == 201, answer.text
            made.append(answer.json()["webhook_id"])
        refused(await api.post("/api/webhooks", headers=ann, json={"url": PUBLIC.format(10)}),
                "At most 10 webhooks")
        listed = (await api.get("/api/webhooks", headers=ann)).json()["webhooks"]
        assert sorted(h["webhook_id"] for h in listed) == sorted(made)
        theirs = await api.post("/api/webhooks", headers=bob, json={"url": PUBLIC.format(0)})
        assert theirs.status_code == 201  # the cap is per user
        assert (await api.delete(f"/api/webhooks/{made[0]}", headers=ann)).status_code == 200
        again = await api.post("/api/webhooks", headers=ann, json={"url": PUBLIC.format(11)})
        assert again.status_code == 201, again.text
