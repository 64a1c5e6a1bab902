"""Message templates through the real gateway and the four services, on both stores:
CRUD under /api/templates, tenant scoping, and sends (single and bulk) that render a
template with variables."""

from __future__ import annotations

import pytest

from tests.gateway.test_billing_credits import credits, signed_in, top_up
from tests.support.services import gateway_client, running_services

ADMIN = {"admin_user": "boss", "admin_password": "boss-password"}
GREETING = {"name": "Greeting", "body": "Hi {{name}}, welcome to {{ company }}! {{name}}"}


@pytest.fixture
async def api(database_url, fresh_nats_url, tmp_path):
    async with running_services(database_url, fresh_nats_url, tmp_path, **ADMIN) as settings, \
            gateway_client(settings) as client:
        yield client


async def test_templates_are_created_read_updated_and_deleted(api):
    ann = await signed_in(api, "ann")
    created = await api.post("/api/templates", headers=ann, json=GREETING)
    assert created.status_code == 201, created.text
    doc = created.json()["template"]
    assert (doc["name"], doc["body"], doc["variables"]) == (
        "Greeting", GREETING["body"], ["name", "company"])
    second = (await api.post("/api/templates", headers=ann,
                             json={"name": "Bye", "body": "Bye"})).json()["template"]
    assert second["id"] > doc["id"]
    listed = (await api.get("/api/templates", headers=ann)).json()["templates"]
    assert [t["id"] for t in listed] == [doc["id"], second["id"]]
    one = await api.get(f"/api/templates/{doc['id']}", headers=ann)
    assert one.json() == doc
    changed = await api.put(f"/api/templates/{doc['id']}", headers=ann,
                            json={"name": "Hello", "body": "Hello {{who}}"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["template"]["name"], changed.json()["template"]["variables"]) == (
        "Hello", ["who"])
    gone = await api.delete(f"/api/templates/{second['id']}", headers=ann)
    assert gone.status_code == 200
    assert (await api.get(f"/api/templates/{second['id']}", headers=ann)).status_code == 404
    listed = (await api.get("/api/templates", headers=ann)).json()["templates"]
    assert [t["name"] for t in listed] == ["Hello"]


async def test_another_users_template_is_not_found(api):
    ann, bob = await signed_in(api, "ann"), await signed_in(api, "bob")
    await top_up(api, bob, 5)
    doc = (await api.post("/api/templates", headers=ann, json=GREETING)).json()["template"]
    path = f"/api/templates/{doc['id']}"
    for call in (api.get(path, headers=bob), api.delete(path, headers=bob),
                 api.put(path, headers=bob, json={"name": "x", "body": "y"})):
        refused = await call
        assert refused.status_code == 404 and refused.json()["error"] == "NOT_FOUND"
    assert (await api.get("/api/templates", headers=bob)).json()["templates"] == []
    send = await api.post("/api/messages/send-message", headers=bob, json={
        "number": "27821234567", "template_id": doc["id"],
        "variables": {"name": "x", "company": "y"}})
    assert send.status_code == 404 and send.json()["error"] == "NOT_FOUND"
    assert await credits(api, bob) == 5
    assert (await api.get(path, headers=ann)).status_code == 200


async def test_sends_render_the_template(api):
    ann = await signed_in(api, "ann")
    await top_up(api, ann, 10)
    doc = (await api.post("/api/templates", headers=ann, json=GREETING)).json()["template"]
    variables = {"name": "John Smith", "company": "Example Corp"}
    sent = await api.post("/api/messages/send-message", headers=ann, json={
        "number": "27821234567", "template_id": doc["id"], "variables": variables})
    assert sent.status_code == 200, sent.text
    status = (await api.get(f"/api/messages/message-status/{sent.json()['queue_id']}",
                            headers=ann)).json()
    assert status["message"] == "Hi John Smith, welcome to Example Corp! John Smith"
    bulk = await api.post("/api/messages/send-bulk-message", headers=ann, json={
        "numbers": ["27821234567", "27829876543"], "template_id": doc["id"],
        "variables": variables})
    assert bulk.status_code == 200 and bulk.json()["messages_created"] == 2, bulk.text
    for queue_id in bulk.json()["queue_ids"]:
        found = (await api.get(f"/api/messages/message-status/{queue_id}",
                               headers=ann)).json()
        assert found["message"].startswith("Hi John Smith")
    assert await credits(api, ann) == 7


@pytest.mark.parametrize("url", ["/api/messages/send-message",
                                 "/api/messages/send-bulk-message"])
async def test_a_missing_variable_or_unknown_template_is_refused(api, url):
    ann = await signed_in(api, "ann")
    await top_up(api, ann, 10)
    doc = (await api.post("/api/templates", headers=ann, json=GREETING)).json()["template"]
    target = {"number": "27821234567"} if url.endswith("send-message") else {
        "numbers": ["27821234567"]}
    missing = await api.post(url, headers=ann, json={
        **target, "template_id": doc["id"], "variables": {"name": "John"}})
    assert missing.status_code == 400, missing.text
    assert missing.json()["error"] == "INVALID_REQUEST" and "company" in missing.json()[
        "message"]
    unknown = await api.post(url, headers=ann, json={**target, "template_id": 999999})
    assert unknown.status_code == 404 and unknown.json()["error"] == "NOT_FOUND"
    assert await credits(api, ann) == 10


@pytest.mark.parametrize("body", [{"name": "", "body": "x"}, {"name": "n", "body": " "},
                                  {"name": "n", "body": "x" * 4097}, {"name": "n"}])
async def test_bad_templates_are_invalid_request(api, body):
    ann = await signed_in(api, "ann")
    refused = await api.post("/api/templates", headers=ann, json=body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "INVALID_REQUEST"
