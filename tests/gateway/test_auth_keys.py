"""Signing-key rotation and disabling through the real gateway and services, on both
stores: a token signed under the previous key works until that key is removed; a
disabled user's tokens and key pairs stop at once, and work again once re-enabled."""

from __future__ import annotations

import jwt

from tests.auth.gateway_support import api_stack, bearer, error_of, v1_error_of

OLD = "first-signing-secret-0123456789abcdef0123456789"
NEW = "second-signing-secret-0123456789abcdef012345678"


async def test_a_rotated_signing_key_verifies_until_removed(database_url, fresh_nats_url,
                                                            tmp_path):
    async with api_stack(database_url, fresh_nats_url, tmp_path, jwt_secret=OLD) as api:
        await api.register("keeper")
        old = (await api.login("keeper"))["access_token"]
    assert jwt.get_unverified_header(old)["kid"] == "k1"
    async with api_stack(database_url, fresh_nats_url, tmp_path, jwt_secret=NEW,
                         jwt_kid="k2", jwt_previous_keys={"k1": OLD}) as api:
        assert (await api.http.get("/api/users/user/profile",
                                   headers=bearer(old))).status_code == 200
        new = (await api.login("keeper"))["access_token"]
        assert jwt.get_unverified_header(new)["kid"] == "k2"
    async with api_stack(database_url, fresh_nats_url, tmp_path, jwt_secret=NEW,
                         jwt_kid="k2") as api:
        refused = await api.http.get("/api/users/user/profile", headers=bearer(old))
        assert error_of(refused) == (401, "UNAUTHORIZED")
        assert (await api.http.get("/api/users/user/profile",
                                   headers=bearer(new))).json()["username"] == "keeper"


async def test_disabling_a_user_stops_tokens_and_key_pairs_at_once(database_url,
                                                                   fresh_nats_url, tmp_path):
    async with api_stack(database_url, fresh_nats_url, tmp_path) as api:
        user_id, headers = await api.user("suspect")
        pair = await api.instance(headers)
        assert (await api.v1(pair)).status_code == 200
        boss = await api.boss()
        patched = await api.http.patch(f"/api/admin/users/{user_id}",
                                       json={"disabled": True, "reason": "fraud"}, headers=boss)
        assert patched.status_code == 200 and patched.json()["disabled"] is True
        assert error_of(await api.http.get("/api/users/user/credits", headers=headers)) == \
            (401, "UNAUTHORIZED")
        assert v1_error_of(await api.v1(pair)) == (401, "INVALID_CREDENTIALS")
        refused = await api.http.post("/api/auth/login",
                                      json={"username": "suspect", "password": "tall-ladder-42"})
        assert error_of(refused) == (401, "UNAUTHORIZED")
        await api.http.patch(f"/api/admin/users/{user_id}", json={"disabled": False},
                             headers=boss)
        assert (await api.http.get("/api/users/user/credits", headers=headers)).status_code \
            == 200
        assert (await api.v1(pair)).status_code == 200
