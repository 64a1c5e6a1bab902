"""Tenant isolation through the real gateway and services, on both stores: one user never
sees or changes another's messages, templates, instances or credits; foreign ids are 404,
not 403."""

from __future__ import annotations

import asyncio

from tests.auth.gateway_support import api_stack, error_of


async def test_users_cannot_reach_each_other_s_data(database_url, fresh_nats_url, tmp_path):
    async with api_stack(database_url, fresh_nats_url, tmp_path) as api:
        alice_id, alice = await api.user("alice")
        _, mallory = await api.user("mallory")
        boss = await api.boss()
        await api.http.post(f"/api/admin/users/{alice_id}/credits", json={"amount": 3},
                            headers=boss)
        sent = await api.http.post("/api/messages/send-message", headers=alice,
                                   json={"number": "27821234567", "message": "private"})
        assert sent.status_code == 200, sent.text
        queue_id = sent.json()["queue_id"]
        for _ in range(100):
            own = await api.http.get(f"/api/messages/message-status/{queue_id}", headers=alice)
            if own.status_code == 200:
                break
            await asyncio.sleep(0.05)
        assert own.status_code == 200 and own.json()["message"] == "private", own.text

        foreign = await api.http.get(f"/api/messages/message-status/{queue_id}",
                                     headers=mallory)
        assert error_of(foreign) == (404, "NOT_FOUND")
        assert "private" not in foreign.text
        history = await api.http.get("/api/messages/messages", headers=mallory)
        assert history.status_code == 200 and history.json()["messages"] == []
        assert history.json()["pagination"]["total"] == 0
        await templates_stay_private(api, alice, mallory)
        made = await api.instance(alice, "Alice's phone")
        iid = made["instance_id"]
        for method, path in (("GET", f"/api/instances/{iid}"),
                             ("POST", f"/api/instances/{iid}/keys/rotate"),
                             ("DELETE", f"/api/instances/{iid}")):
            answer = await api.http.request(method, path, headers=mallory)
            assert error_of(answer) == (404, "NOT_FOUND"), path
        theirs = (await api.http.get("/api/users/user/credits", headers=mallory)).json()
        assert theirs == {"credits": 0, "username": "mallory"}
        grab = await api.http.post(f"/api/admin/users/{alice_id}/credits",
                                   json={"amount": 1}, headers=mallory)
        assert error_of(grab) == (403, "FORBIDDEN")  # admin routes: 403 for non-admins
        mine = (await api.http.get("/api/users/user/credits", headers=alice)).json()
        assert mine == {"credits": 2, "username": "alice"}
        assert (await api.v1(made)).status_code == 200


async def templates_stay_private(api, owner, other):
    made = await api.http.post("/api/templates", headers=owner,
                               json={"name": "secret plan", "body": "Hi {{name}}"})
    assert made.status_code == 201, made.text
    template_id = made.json()["template"]["id"]
    for method, body in (("GET", None), ("PUT", {"name": "x", "body": "y"}), ("DELETE", None)):
        answer = await api.http.request(method, f"/api/templates/{template_id}", json=body,
                                        headers=other)
        assert error_of(answer) == (404, "NOT_FOUND"), method
        assert "secret plan" not in answer.text
    assert (await api.http.get("/api/templates", headers=other)).json()["templates"] == []
    borrowed = await api.http.post("/api/messages/send-message", headers=other, json={
        "number": "27821234567", "template_id": template_id, "variables": {"name": "x"}})
    assert error_of(borrowed) == (404, "NOT_FOUND")
    kept = await api.http.get(f"/api/templates/{template_id}", headers=owner)
    assert kept.json()["name"] == "secret plan"
