"""The gateway's routes answer through `LeanRoute`'s planned handler (gateway/leanroute.py),
and answer every request as FastAPI's own handler would: the same status, body and
content type, through the real services, for refusals of every kind (no or a bad token,
a body that is not JSON, not an object, missing or mistyped or unknown fields, a header
or query parameter out of bounds, text no store can keep) and for answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI, HTTPException
from fastapi.routing import APIRoute

from gateway import leanroute
from gateway.app import create_app
from gateway.leanroute import LeanRoute, api_router, json_content_type
from gateway.routes import HOT, ROUTERS
from tests.gateway.test_billing_credits import top_up
from tests.gateway.test_v1_instance import user_with_instance
from tests.support.services import running_services

ADMIN = {"admin_user": "boss", "admin_password": "boss-password"}
NUMBER = "27821234567"
JSON = {"Content-Type": "application/json"}
SEND = "/api/messages/send-message"
BULK = "/api/messages/send-bulk-message"
V1_SEND = "/api/v1/whatsapp/send"


def lean(route: APIRoute) -> bool:
    return "_lean_handler" in route.get_route_handler().__qualname__


def test_the_installed_fastapi_fits_and_the_send_routes_are_lean() -> None:
    assert leanroute.FITS and leanroute.PLAIN_PARAMETERS
    hot = [route for router in HOT for route in router.routes if isinstance(route, APIRoute)]
    assert hot and all(lean(route) for route in hot)
    routes = [route for router in ROUTERS for route in router.routes
              if isinstance(route, LeanRoute)]
    # what keeps FastAPI's handler: the status stream (a generator) and the routes that
    # declare another answer class than JSON (media files, Meta's verification echo)
    kept = {route.path for route in routes if not lean(route)}
    assert kept == {"/api/messages/stream", "/api/messages/inbox/{message_id}/media",
                    "/api/v1/whatsapp/messages/incoming/{messageId}/media",
                    "/webhooks/whatsapp-cloud"}


def test_a_json_content_type_is_read_as_fastapi_reads_it() -> None:
    for value in ("application/json", "Application/JSON; charset=utf-8",
                  "application/vnd.api+json", " application/json ;x=1"):
        assert json_content_type(value), value
    for value in (None, "", "text/plain", "application/jsonx", "application/json/x",
                  "application", "json"):
        assert not json_content_type(value), value


def cases(token: str, keys: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, httpx keyword arguments): refusals of every kind, and answers."""
    user = {"Authorization": f"Bearer {token}"}
    signed = {**user, **JSON}
    long_key = {"X-Public-Key": "p" * 201, "X-Secret-Key": keys["secretKey"]}
    return [
        ("POST", SEND, {"json": {"number": NUMBER, "message": "hi"}}),
        ("POST", SEND, {"json": {"number": NUMBER, "message": "hi"},
                        "headers": {"Authorization": "Bearer not-a-token"}}),
        ("POST", SEND, {"json": {"number": NUMBER, "message": "hi"},
                        "headers": {"Authorization": "Basic abc"}}),
        ("POST", SEND, {"content": b'{"number": ', "headers": signed}),
        ("POST", SEND, {"content": b'\xff\xfe{"a"', "headers": signed}),
        ("POST", SEND, {"content": b'{"number": "1", "message": "x"}', "headers": user}),
        ("POST", SEND, {"content": b'{"number": "1", "message": "x"}',
                        "headers": {**user, "Content-Type": "text/plain"}}),
        ("POST", SEND, {"content": b'{"number": 5}',
                        "headers": {**user, "Content-Type": "application/ld+json"}}),
        ("POST", SEND, {"content": b"", "headers": signed}),
        ("POST", SEND, {"json": [1, 2], "headers": user}),
        ("POST", SEND, {"json": {"message": "hi"}, "headers": user}),
        ("POST", SEND, {"json": {"number": 27821234567, "message": "hi"}, "headers": user}),
        ("POST", SEND, {"json": {"number": NUMBER, "message": "hi", "media_url": "x"},
                        "headers": user}),
        ("POST", SEND, {"json": {"number": NUMBER, "template_id": 0}, "headers": user}),
        ("POST", SEND, {"json": {"number": NUMBER}, "headers": user}),
        ("POST", SEND, {"json": {"number": NUMBER, "template_id": 1,
                                 "variables": {str(i): "x" for i in range(100)}},
                        "headers": user}),
        ("POST", SEND, {"content": b'{"number": "2782", "message": "\\u0000"}',
                        "headers": signed}),
        ("POST", SEND, {"json": {"number": NUMBER, "message": "hi"},
                        "headers": {**user, "Idempotency-Key": "k" * 256}}),
        ("POST", BULK, {"json": {"numbers": NUMBER, "message": "hi"}, "headers": user}),
        ("POST", BULK, {"json": {"numbers": [NUMBER] * 1001, "message": "hi"},
                        "headers": user}),
        ("POST", BULK, {"json": {"numbers": [], "message": "hi"}, "headers": user}),
        ("GET", "/api/messages/message-status/msg_unknown", {"headers": user}),
        ("GET", "/api/messages/message-status/msg_%00", {"headers": user}),
        ("GET", "/api/messages/messages", {"params": {"page": "abc"}, "headers": user}),
        ("GET", "/api/messages/messages", {"params": {"page": 0, "limit": 10**6},
                                           "headers": user}),
        ("GET", "/api/messages/messages", {"params": {"status": "sent\x00"}, "headers": user}),
        ("GET", "/api/messages/messages", {"headers": user}),
        ("GET", "/api/users/user/profile", {"headers": user}),
        ("GET", "/api/users/user/credits", {"headers": user}),
        ("GET", "/api/templates", {"headers": user}),
        ("DELETE", "/api/templates/abc", {"headers": user}),
        ("PUT", SEND, {"headers": user}),
        ("POST", "/api/auth/login", {"json": {"username": "nobody", "password": "x" * 12}}),
        ("POST", "/api/auth/login", {"json": {"username": "nobody"}}),
        ("POST", V1_SEND, {"json": {"phoneNumber": NUMBER, "message": "hi"}}),
        ("POST", V1_SEND, {"json": {"phoneNumber": NUMBER, "message": "hi"},
                           "params": {"publicKey": "x", "secretKey": "y"}}),
        ("POST", V1_SEND, {"json": {"phoneNumber": NUMBER}, "params": keys}),
        ("POST", V1_SEND, {"content": b"[", "params": keys, "headers": JSON}),
        ("POST", V1_SEND, {"json": {"phoneNumber": NUMBER, "message": "hi"},
                           "headers": long_key}),
        ("GET", "/api/v1/whatsapp/instance", {"params": keys}),
        ("GET", "/api/v1/whatsapp/quota", {"headers": {"X-Public-Key": keys["publicKey"],
                                                       "X-Secret-Key": keys["secretKey"]}}),
        ("GET", "/livez", {}),
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_each_request_is_answered_as_fastapis_handler_answers_it(
        database_url: str, fresh_nats_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_services(database_url, fresh_nats_url, tmp_path, **ADMIN) as settings:
        planned = create_app(settings)
        with monkeypatch.context() as patch:  # routes included now get FastAPI's handler
            patch.setattr(LeanRoute, "get_route_handler", APIRoute.get_route_handler)
            plain = create_app(settings)
        async with planned.router.lifespan_context(planned), \
                plain.router.lifespan_context(plain), \
                httpx.AsyncClient(transport=httpx.ASGITransport(app=planned),
                                  base_url="http://gateway", timeout=30) as ours, \
                httpx.AsyncClient(transport=httpx.ASGITransport(app=plain),
                                  base_url="http://gateway", timeout=30) as theirs:
            made = await user_with_instance(ours, settings, "ann")
            await top_up(ours, {"Authorization": f"Bearer {made['token']}"}, 5)
            statuses = set()
            for method, path, options in cases(str(made["token"]), made["keys"]):
                a = await ours.request(method, path, **options)
                b = await theirs.request(method, path, **options)
                where = f"{method} {path} {options.get('json', options.get('content'))!r:.80}"
                assert (a.status_code, a.headers.get("content-type")) == (
                    b.status_code, b.headers.get("content-type")), where
                assert a.json() == b.json(), where
                statuses.add(a.status_code)
            # refusals of every kind were among them, and answers
            assert statuses >= {200, 400, 401, 404, 405}, statuses


async def test_a_router_included_with_more_dependencies_runs_them() -> None:
    """A plan is made from the route alone; included with dependencies of the
    inclusion's own, the route gets FastAPI's handler, which runs them."""
    router = api_router()

    @router.get("/thing")
    async def thing() -> dict[str, str]:
        return {"thing": "here"}

    async def refuse() -> None:
        raise HTTPException(418, "refused by the inclusion")

    bare, guarded = FastAPI(), FastAPI()
    bare.include_router(router)
    guarded.include_router(router, dependencies=[Depends(refuse)])
    for app, status in ((bare, 200), (guarded, 418)):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://app") as client:
            assert (await client.get("/thing")).status_code == status
