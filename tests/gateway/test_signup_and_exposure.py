"""Sign-up and what the public port shows (issue 12, low findings), through the real
gateway and services: weak passwords are refused with the Messaging API's 400
INVALID_REQUEST; `SWITCHBOARD_SIGNUP=closed` answers 403 FORBIDDEN and creates nobody (an operator's
`switchboard user create` still does);
/docs, /redoc and /openapi.json can be turned off; with a metrics port of its own the
public port serves no /metrics."""

from __future__ import annotations

import grpc
import pytest

from launcher.accounts import create_user
from switchboard.auth.v1 import auth_pb2, auth_pb2_grpc
from tests.auth.gateway_support import PASSWORD, api_stack, error_of

WEAK = ["password", " " * 8, " " * 12, "password123", "Password2024!", "P@ssw0rd!!",
        "qwertyuiop", "1234567890", "iloveyou123", "aaaaaaaaaaaa", "abcabcabcabc", "short-9"]


async def test_weak_passwords_are_refused_with_the_documented_error(
        database_url, fresh_nats_url, tmp_path):
    async with api_stack(database_url, fresh_nats_url, tmp_path, rate_limit_auth=0) as api:
        for n, password in enumerate(WEAK):
            answer = await api.http.post("/api/auth/register",
                                         json={"username": f"weak{n}", "password": password})
            assert error_of(answer) == (400, "INVALID_REQUEST"), password
            assert "Password" in answer.json()["message"]
            login = await api.http.post("/api/auth/login",
                                        json={"username": f"weak{n}", "password": password})
            assert error_of(login) == (401, "UNAUTHORIZED"), "nobody was created"
        await api.register("sturdy", PASSWORD)
        assert (await api.login("sturdy"))["username"] == "sturdy"


async def test_closed_sign_up_is_forbidden_and_creates_nobody(
        database_url, fresh_nats_url, tmp_path):
    async with api_stack(database_url, fresh_nats_url, tmp_path, signup="closed") as api:
        answer = await api.http.post("/api/auth/register",
                                     json={"username": "walkin", "password": PASSWORD})
        assert error_of(answer) == (403, "FORBIDDEN")
        assert "closed" in answer.json()["message"]
        login = await api.http.post("/api/auth/login",
                                    json={"username": "walkin", "password": PASSWORD})
        assert error_of(login) == (401, "UNAUTHORIZED")
        users = await api.http.get("/api/admin/users", headers=await api.boss())
        assert [u["username"] for u in users.json()["users"]] == ["boss"]
        async with grpc.aio.insecure_channel(api.settings.service_addr("auth")) as chan:
            with pytest.raises(grpc.aio.AioRpcError) as caught:  # no service token
                await auth_pb2_grpc.AuthServiceStub(chan).Register(auth_pb2.RegisterRequest(
                    username="walkin", password=PASSWORD, by_operator=True))
        assert caught.value.code() in (grpc.StatusCode.UNAUTHENTICATED,
                                       grpc.StatusCode.PERMISSION_DENIED)
        again = await api.http.post("/api/auth/login",
                                    json={"username": "walkin", "password": PASSWORD})
        assert error_of(again) == (401, "UNAUTHORIZED"), "an anonymous operator flag made nobody"


async def test_an_operator_creates_users_while_sign_up_is_closed(
        database_url, fresh_nats_url, tmp_path, capsys):
    async with api_stack(database_url, fresh_nats_url, tmp_path, signup="closed") as api:
        assert await create_user(api.settings, "invited", PASSWORD, "i@example.com") == 0
        assert "user invited" in capsys.readouterr().out
        session = await api.login("invited")
        assert session["username"] == "invited" and session["is_admin"] is False
        assert await create_user(api.settings, "weakling", "password123", "") == 1
        assert "Password" in capsys.readouterr().out


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_api_docs_can_be_turned_off_and_metrics_moved(database_url, fresh_nats_url,
                                                            tmp_path):
    async with api_stack(database_url, fresh_nats_url, tmp_path, api_docs=False,
                         gateway_metrics_port=0) as api:
        for path in ("/docs", "/redoc", "/openapi.json", "/metrics"):
            assert (await api.http.get(path)).status_code == 404, path
        assert (await api.http.get("/livez")).status_code == 200
    async with api_stack(database_url, fresh_nats_url, tmp_path) as api:
        for path in ("/docs", "/openapi.json", "/metrics"):
            assert (await api.http.get(path)).status_code == 200, path
