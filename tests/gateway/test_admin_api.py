"""Admin management through the real gateway and services, on both stores: users listed
and paged with their credits, admin granted and revoked at once, credits granted as a
billing event, every instance visible; non-admins 403 and anonymous callers 401."""

from __future__ import annotations

from tests.auth.gateway_support import BOSS, api_stack, error_of


async def test_non_admins_get_403_and_anonymous_callers_401(database_url, fresh_nats_url,
                                                            tmp_path):
    async with api_stack(database_url, fresh_nats_url, tmp_path) as api:
        user_id, me = await api.user("plain")
        calls = [("GET", "/api/admin/users", None), ("GET", f"/api/admin/users/{user_id}", None),
                 ("PATCH", f"/api/admin/users/{user_id}", {"is_admin": True}),
                 ("POST", f"/api/admin/users/{user_id}/credits", {"amount": 5}),
                 ("GET", "/api/admin/instances", None)]
        for method, path, body in calls:
            forbidden = await api.http.request(method, path, json=body, headers=me)
            assert error_of(forbidden) == (403, "FORBIDDEN"), path
            anonymous = await api.http.request(method, path, json=body)
            assert error_of(anonymous) == (401, "UNAUTHORIZED"), path
        assert (await api.http.get("/api/users/user/credits", headers=me)).json()["credits"] \
            == 0


async def test_users_are_listed_a_page_at_a_time_with_their_credits(database_url,
                                                                    fresh_nats_url, tmp_path):
    async with api_stack(database_url, fresh_nats_url, tmp_path) as api:
        ids = [await api.register(f"member{i}", email=f"m{i}@example.com") for i in range(3)]
        boss = await api.boss()
        await api.http.post(f"/api/admin/users/{ids[1]}/credits", json={"amount": 7},
                            headers=boss)
        page = (await api.http.get("/api/admin/users", params={"page": 1, "per_page": 2},
                                   headers=boss)).json()
        assert page["pagination"] == {"page": 1, "per_page": 2, "total": 4, "pages": 2}
        assert [u["username"] for u in page["users"]] == [BOSS, "member0"]
        second = (await api.http.get("/api/admin/users", params={"page": 2, "per_page": 2},
                                     headers=boss)).json()
        member1 = second["users"][0]
        assert set(member1) == {"id", "username", "email", "notification_number", "credits",
                                "is_admin", "disabled", "created_at"}
        assert (member1["id"], member1["credits"], member1["email"]) == \
            (ids[1], 7, "m1@example.com")
        one = await api.http.get(f"/api/admin/users/{ids[1]}", headers=boss)
        assert one.json() == member1
        assert error_of(await api.http.get("/api/admin/users/999999", headers=boss)) == \
            (404, "NOT_FOUND")
        bad = await api.http.get("/api/admin/users", params={"per_page": 1000}, headers=boss)
        assert error_of(bad) == (400, "INVALID_REQUEST")


async def test_admin_rights_change_at_once_and_no_admin_locks_themselves_out(
        database_url, fresh_nats_url, tmp_path):
    async with api_stack(database_url, fresh_nats_url, tmp_path) as api:
        user_id, me = await api.user("rising")
        boss = await api.boss()
        promoted = await api.http.patch(f"/api/admin/users/{user_id}", json={"is_admin": True},
                                        headers=boss)
        assert promoted.json()["is_admin"] is True
        assert (await api.http.get("/api/admin/users", headers=me)).status_code == 200
        boss_id = (await api.login(BOSS, "boss-password"))["user_id"]
        for change in ({"is_admin": False}, {"disabled": True}):
            own = await api.http.patch(f"/api/admin/users/{boss_id}", json=change, headers=boss)
            assert error_of(own) == (400, "INVALID_REQUEST")
        demoted = await api.http.patch(f"/api/admin/users/{user_id}", json={"is_admin": False},
                                       headers=boss)
        assert demoted.json()["is_admin"] is False
        assert error_of(await api.http.get("/api/admin/users", headers=me)) == (403, "FORBIDDEN")
        empty = await api.http.patch(f"/api/admin/users/{user_id}", json={}, headers=boss)
        assert error_of(empty) == (400, "INVALID_REQUEST")
        unknown = await api.http.patch("/api/admin/users/999999", json={"disabled": True},
                                       headers=boss)
        assert error_of(unknown) == (404, "NOT_FOUND")


async def test_granting_credits_is_a_billing_event_for_known_users_only(database_url,
                                                                       fresh_nats_url,
                                                                       tmp_path):
    async with api_stack(database_url, fresh_nats_url, tmp_path) as api:
        user_id, me = await api.user("funded")
        boss = await api.boss()
        granted = await api.http.post(f"/api/admin/users/{user_id}/credits",
                                      json={"amount": 40, "reason": "welcome"}, headers=boss)
        assert granted.json() == {"message": "Credits added successfully", "user_id": user_id,
                                  "credits": 40}
        assert (await api.http.get("/api/users/user/credits", headers=me)).json()["credits"] \
            == 40
        for body in ({"amount": 0}, {"amount": -5}, {"amount": "lots"}, {}):
            bad = await api.http.post(f"/api/admin/users/{user_id}/credits", json=body,
                                      headers=boss)
            assert error_of(bad) == (400, "INVALID_REQUEST"), body
        ghost = await api.http.post("/api/admin/users/999999/credits", json={"amount": 5},
                                    headers=boss)
        assert error_of(ghost) == (404, "NOT_FOUND")


async def test_admins_see_every_instance(database_url, fresh_nats_url, tmp_path):
    async with api_stack(database_url, fresh_nats_url, tmp_path) as api:
        alice_id, alice = await api.user("alice")
        bob_id, bob = await api.user("bobby")
        first = await api.instance(alice, "A")
        second = await api.instance(bob, "B")
        boss = await api.boss()
        everyone = (await api.http.get("/api/admin/instances", headers=boss)).json()
        assert [(i["instance_id"], i["user_id"]) for i in everyone["instances"]] == \
            [(first["instance_id"], alice_id), (second["instance_id"], bob_id)]
        assert "secret_key" not in everyone["instances"][0]
        only_bob = (await api.http.get("/api/admin/instances", params={"user_id": bob_id},
                                       headers=boss)).json()
        assert [i["instance_name"] for i in only_bob["instances"]] == ["B"]
        assert only_bob["pagination"]["total"] == 1
