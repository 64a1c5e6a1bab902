"""Messaging API sign-up, sign-in, profile and credits through the real gateway and
services, on both stores: the documented shapes and every documented error."""

from __future__ import annotations

import asyncio
import re

import jwt

from tests.auth.gateway_support import PASSWORD, api_stack, bearer, error_of

NAIVE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")


async def test_register_login_profile_and_credits(database_url, fresh_nats_url, tmp_path):
    async with api_stack(database_url, fresh_nats_url, tmp_path) as api:
        created = await api.http.post("/api/auth/register", json={
            "username": "newuser", "email": "new@example.com", "password": "securepassword",
            "notification_number": "27821234567"})
        assert created.status_code == 201
        user_id = created.json()["user_id"]
        assert created.json() == {"message": "User created successfully", "user_id": user_id}
        session = await api.login("newuser", "securepassword")
        assert session == {"access_token": session["access_token"], "token_type": "Bearer",
                           "user_id": user_id, "username": "newuser", "credits": 0,
                           "is_admin": False}
        granted = await api.http.post(f"/api/admin/users/{user_id}/credits",
                                      json={"amount": 150}, headers=await api.boss())
        assert granted.status_code == 200, granted.text
        me = bearer(session["access_token"])
        credits = await api.http.get("/api/users/user/credits", headers=me)
        assert credits.json() == {"credits": 150, "username": "newuser"}
        profile = (await api.http.get("/api/users/user/profile", headers=me)).json()
        assert NAIVE.match(profile.pop("created_at"))
        assert profile == {"id": user_id, "username": "newuser", "email": "new@example.com",
                           "credits": 150, "is_admin": False}
        assert (await api.login("newuser", "securepassword"))["credits"] == 150


async def test_duplicate_and_invalid_registrations_are_400(database_url, fresh_nats_url,
                                                           tmp_path):
    async with api_stack(database_url, fresh_nats_url, tmp_path, rate_limit_auth=0) as api:
        await api.register("taken")
        again = await api.http.post("/api/auth/register",
                                    json={"username": "TAKEN", "password": PASSWORD})
        assert error_of(again) == (400, "INVALID_REQUEST")
        assert again.json()["message"] == "Username already exists"
        for body in ({"username": "nopass"}, {"password": PASSWORD},
                     {"username": "x", "password": PASSWORD},
                     {"username": "short", "password": "1234"},
                     {"username": "mail", "password": PASSWORD, "email": "nope"},
                     {"username": "num", "password": PASSWORD, "notification_number": "12ab"},
                     {"username": 5, "password": PASSWORD}):
            answer = await api.http.post("/api/auth/register", json=body)
            assert error_of(answer) == (400, "INVALID_REQUEST"), body
        broken = await api.http.post("/api/auth/register", content=b"{not json",
                                     headers={"Content-Type": "application/json"})
        assert error_of(broken) == (400, "INVALID_REQUEST")


async def test_failed_logins_are_401_and_say_nothing_about_the_user(database_url,
                                                                    fresh_nats_url, tmp_path):
    async with api_stack(database_url, fresh_nats_url, tmp_path) as api:
        await api.register("known")
        answers = [await api.http.post("/api/auth/login", json=body) for body in (
            {"username": "known", "password": "wrong password"},
            {"username": "unknown", "password": "wrong password"})]
        assert [error_of(a) for a in answers] == [(401, "UNAUTHORIZED")] * 2
        assert answers[0].json() == answers[1].json()
        missing = await api.http.post("/api/auth/login", json={"username": "known"})
        assert error_of(missing) == (400, "INVALID_REQUEST")


async def test_missing_invalid_or_forged_tokens_are_401(database_url, fresh_nats_url,
                                                        tmp_path):
    async with api_stack(database_url, fresh_nats_url, tmp_path) as api:
        await api.register("holder")
        token = (await api.login("holder"))["access_token"]
        claims = jwt.decode(token, options={"verify_signature": False})
        forged = jwt.encode({**claims, "adm": True}, "x" * 40, algorithm="HS256",
                            headers={"kid": "k1"})
        for headers in ({}, {"Authorization": token}, {"Authorization": "Basic abc"},
                        bearer("garbage"), bearer(forged), bearer(token[:-3] + "abc")):
            for path in ("/api/users/user/profile", "/api/users/user/credits"):
                answer = await api.http.get(path, headers=headers)
                assert error_of(answer) == (401, "UNAUTHORIZED"), (headers, path)


async def test_an_expired_token_is_401(database_url, fresh_nats_url, tmp_path):
    # iat is whole seconds: a 3 s token lives more than 2 s, enough to use it once.
    async with api_stack(database_url, fresh_nats_url, tmp_path, jwt_ttl_seconds=3) as api:
        await api.register("brief")
        headers = await api.token("brief")
        assert (await api.http.get("/api/users/user/credits", headers=headers)).status_code \
            == 200
        await asyncio.sleep(3.2)
        answer = await api.http.get("/api/users/user/credits", headers=headers)
        assert error_of(answer) == (401, "UNAUTHORIZED")


async def test_repeated_failures_throttle_a_username_with_retry_after(database_url,
                                                                      fresh_nats_url,
                                                                      tmp_path):
    async with api_stack(database_url, fresh_nats_url, tmp_path, login_max_failures=3,
                         rate_limit_auth=0) as api:
        await api.register("victim")
        bodies = []
        for name in ("victim", "ghost"):
            for _ in range(3):
                wrong = await api.http.post("/api/auth/login",
                                            json={"username": name, "password": "wrong pw"})
                assert error_of(wrong) == (401, "UNAUTHORIZED")
            for password in ("wrong pw", PASSWORD):
                throttled = await api.http.post("/api/auth/login",
                                                json={"username": name, "password": password})
                assert error_of(throttled) == (429, "RATE_LIMITED")
                assert 1 <= int(throttled.headers["Retry-After"]) <= 900
                bodies.append(throttled.json()["message"].split(" (in ")[0])
        assert len(set(bodies)) == 1
        await api.register("other")
        assert (await api.login("other"))["username"] == "other"
