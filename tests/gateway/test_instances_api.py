"""Instances and key pairs through the real gateway and services, on both stores: create,
list, get, rotate, delete; the Instance API accepting the pair in query parameters or
headers; INVALID_CREDENTIALS for bad, rotated-out and deleted pairs; foreign ids 404."""

from __future__ import annotations

import re

from tests.auth.gateway_support import api_stack, error_of, v1_error_of

INSTANCE_ID = re.compile(r"^[0-9a-f]{6}-[0-9a-f]{6}$")
NAIVE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")


async def test_instance_life_and_its_key_pairs(database_url, fresh_nats_url, tmp_path):
    async with api_stack(database_url, fresh_nats_url, tmp_path) as api:
        _, me = await api.user("owner")
        made = await api.instance(me, "Main WhatsApp")
        assert set(made) == {"message", "instance_id", "id", "instance_name", "public_key",
                             "secret_key", "created_at"}
        assert made["message"] == "Instance created successfully"
        assert INSTANCE_ID.match(made["instance_id"]) and NAIVE.match(made["created_at"])
        assert (made["id"], made["instance_name"]) == (1, "Main WhatsApp")
        iid = made["instance_id"]
        for in_headers in (False, True):
            found = await api.v1(made, in_headers=in_headers)
            assert found.status_code == 200, found.text
            assert found.json()["data"]["instanceId"] == iid

        listed = (await api.http.get("/api/instances", headers=me)).json()
        assert listed["pagination"] == {"page": 1, "per_page": 20, "total": 1, "pages": 1}
        assert listed["instances"] == [{k: v for k, v in made.items()
                                        if k not in ("message", "secret_key")}]
        one = (await api.http.get(f"/api/instances/{iid}", headers=me)).json()
        assert one == listed["instances"][0]

        rotated = await api.http.post(f"/api/instances/{iid}/keys/rotate", headers=me)
        assert rotated.status_code == 200, rotated.text
        fresh = rotated.json()
        assert fresh["instance_id"] == iid and fresh["public_key"] != made["public_key"]
        assert fresh["secret_key"] != made["secret_key"]
        assert v1_error_of(await api.v1(made)) == (401, "INVALID_CREDENTIALS")
        assert (await api.v1(fresh)).status_code == 200

        deleted = await api.http.delete(f"/api/instances/{iid}", headers=me)
        assert deleted.json() == {"message": "Instance deleted successfully",
                                  "instance_id": iid}
        assert v1_error_of(await api.v1(fresh)) == (401, "INVALID_CREDENTIALS")
        assert error_of(await api.http.get(f"/api/instances/{iid}", headers=me)) == \
            (404, "NOT_FOUND")
        assert (await api.http.get("/api/instances", headers=me)).json()["instances"] == []


async def test_bad_pairs_get_invalid_credentials_in_the_v1_envelope(database_url,
                                                                   fresh_nats_url, tmp_path):
    async with api_stack(database_url, fresh_nats_url, tmp_path) as api:
        _, me = await api.user("keyholder")
        made = await api.instance(me)
        cases = [({}, 401), ({"publicKey": made["public_key"]}, 401),
                 ({"publicKey": made["public_key"], "secretKey": "sk_wrong"}, 401),
                 ({"publicKey": "pk_unknown", "secretKey": made["secret_key"]}, 401),
                 ({"publicKey": made["public_key"], "secretKey": "x" * 201}, 400)]
        for params, status in cases:
            answer = await api.http.get("/api/v1/whatsapp/instance", params=params)
            code = "INVALID_CREDENTIALS" if status == 401 else "INVALID_REQUEST"
            assert v1_error_of(answer) == (status, code), params
            if status == 401:
                assert answer.json()["message"] == "Invalid or revoked API credentials"
        swapped = await api.http.get("/api/v1/whatsapp/instance", headers={
            "X-Public-Key": made["public_key"], "X-Secret-Key": made["public_key"]})
        assert v1_error_of(swapped) == (401, "INVALID_CREDENTIALS")


async def test_one_user_never_sees_or_touches_another_s_instances(database_url,
                                                                  fresh_nats_url, tmp_path):
    async with api_stack(database_url, fresh_nats_url, tmp_path) as api:
        _, alice = await api.user("alice")
        _, bob = await api.user("bobby")
        made = await api.instance(alice, "Alice's")
        iid = made["instance_id"]
        for method, path in (("GET", f"/api/instances/{iid}"),
                             ("DELETE", f"/api/instances/{iid}"),
                             ("POST", f"/api/instances/{iid}/keys/rotate"),
                             ("GET", "/api/instances/ffffff-ffffff"),
                             ("GET", "/api/instances/..%2F..%2Fadmin")):
            answer = await api.http.request(method, path, headers=bob)
            assert error_of(answer) == (404, "NOT_FOUND"), (method, path)
        assert (await api.http.get("/api/instances", headers=bob)).json()["instances"] == []
        assert (await api.v1(made)).status_code == 200  # untouched


async def test_instance_requests_need_a_user_and_a_valid_name(database_url, fresh_nats_url,
                                                              tmp_path):
    async with api_stack(database_url, fresh_nats_url, tmp_path) as api:
        _, me = await api.user("namer")
        for body in ({}, {"instance_name": ""}, {"instance_name": "x" * 101},
                     {"instance_name": "   "}, {"instance_name": 7}):
            answer = await api.http.post("/api/instances", json=body, headers=me)
            assert error_of(answer) == (400, "INVALID_REQUEST"), body
        anonymous = await api.http.post("/api/instances", json={"instance_name": "x"})
        assert error_of(anonymous) == (401, "UNAUTHORIZED")
        assert error_of(await api.http.get("/api/instances")) == (401, "UNAUTHORIZED")
