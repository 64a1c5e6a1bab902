"""Messaging API: a bulk request is one job, GET /api/messages/bulk/{job_id}, through the
real gateway and the four services on both stores: its counts from the moment the
request is answered until every message has gone out, for its owner only."""

from __future__ import annotations

import asyncio

from tests.gateway.test_bulk_send import NUMBERS, URL, api, user_with

__all__ = ["api"]
WORDS = ("queued", "sending", "sent", "delivered", "read", "failed")


async def job_of(api, headers, job_id: str) -> dict:
    answer = await api.get(f"/api/messages/bulk/{job_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_a_bulk_job_counts_its_messages_until_they_are_out(api):
    headers = await user_with(api, "eve", 10)
    sent = (await api.post(URL, headers=headers,
                           json={"numbers": NUMBERS, "message": "to all"})).json()
    job_id = sent["job_id"]
    assert job_id.startswith("bulk_") and len(job_id) == 29
    first = await job_of(api, headers, job_id)
    assert first["job_id"] == job_id and first["total"] == 3
    assert sum(first[w] for w in WORDS) == 3 and first["created_at"].endswith("Z")
    for _ in range(300):
        job = await job_of(api, headers, job_id)
        if job["is_complete"]:
            break
        await asyncio.sleep(0.05)
    assert job["is_complete"] and job["total"] == 3
    assert job["sent"] + job["delivered"] + job["read"] == 3, job
    assert (job["queued"], job["sending"], job["failed"]) == (0, 0, 0)
    single = (await api.post("/api/messages/send-message", headers=headers,
                             json={"number": NUMBERS[0], "message": "alone"})).json()
    assert (await job_of(api, headers, job_id))["total"] == 3, single


async def test_another_users_job_and_an_unknown_one_are_not_found(api):
    owner = await user_with(api, "fay", 10)
    job_id = (await api.post(URL, headers=owner,
                             json={"numbers": NUMBERS, "message": "x"})).json()["job_id"]
    other = await user_with(api, "gus", 1)
    for headers, path in ((other, job_id), (owner, "bulk_" + "0" * 24), (owner, "x" * 500)):
        answer = await api.get(f"/api/messages/bulk/{path}", headers=headers)
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"] == "NOT_FOUND"
    assert (await api.get(f"/api/messages/bulk/{job_id}")).status_code == 401


async def test_an_idempotent_retry_names_the_same_job(api):
    headers = {**await user_with(api, "hal", 10), "Idempotency-Key": "job-retry-1"}
    body = {"numbers": NUMBERS, "message": "once"}
    first = (await api.post(URL, headers=headers, json=body)).json()
    again = (await api.post(URL, headers=headers, json=body)).json()
    assert again["job_id"] == first["job_id"]
    assert (await job_of(api, headers, first["job_id"]))["total"] == 3
