"""Property-based fuzz of both REST APIs from the gateway's own OpenAPI document.

Schemathesis makes requests for every operation under /api (the Messaging API and the
Instance API): the document's examples, boundary values of every parameter, then
generated ones, valid and invalid, all signed with a real admin's JWT and the key pair
of a real, linked instance, so they reach the handlers. Each goes through the real
gateway (uvicorn in this process) to the four real services on SQLite. Every answer must
be a non-5xx whose status code, content type and body the document declares, and a
refusal's API code one of those the document shows for that status.

Repeatable: examples are derived from the document, not from a random seed. Set
SWITCHBOARD_FUZZ_EXAMPLES (default 10 generated cases per operation) for a deeper run.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import pkgutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.hypothesis.builder import (
    HypothesisTestConfig,
    HypothesisTestMode,
    create_test,
)
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import gateway.routes
from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.device.test_simulator import decode_qr_data_url
from tests.gateway.test_stream_api import real_gateway
from tests.gateway.test_v1_instance import instance_info
from tests.support.services import running_services

EXAMPLES = int(os.environ.get("SWITCHBOARD_FUZZ_EXAMPLES", "10"))
ADMIN = {"admin_user": "fuzzboss", "admin_password": "fuzz-password"}
# Generous limits so the fuzz reaches handlers instead of 429 (which it may still get).
OPEN = {"rate_limit_auth": 100_000, "rate_limit_messages": 100_000, "rate_limit_bulk": 100_000,
        "rate_limit_status": 100_000, "rate_limit_other": 100_000,
        "status_stream_heartbeat_seconds": 0.2}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
Send = Callable[[dict[str, Any]], httpx.Response]


def api_schema() -> Any:
    document = create_app(GatewaySettings()).openapi()
    return schemathesis.openapi.from_dict(document).include(path_regex="^/api/")


def api_routes() -> set[str]:
    """Every route of both APIs in the gateway's route modules, documented or not."""
    found = set()
    for info in pkgutil.walk_packages(gateway.routes.__path__, "gateway.routes."):
        module = importlib.import_module(info.name)
        for route in getattr(getattr(module, "router", None), "routes", []):
            if isinstance(route, APIRoute) and route.path.startswith("/api/"):
                found |= {f"{method} {route.path}" for method in route.methods}
    return found


async def _request(api: httpx.AsyncClient, kwargs: dict[str, Any]) -> httpx.Response:
    """One request; an event stream is read up to its first chunk, then closed."""
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    elif isinstance(kwargs.get("data"), bytes | str):
        body["content"] = kwargs["data"]
    elif kwargs.get("data") is not None:
        body["data"] = kwargs["data"]
    request = api.build_request(kwargs["method"], kwargs["url"], headers=kwargs["headers"],
                                params=kwargs.get("params"), **body)
    response = await api.send(request, stream=True)
    try:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            content = await anext(response.aiter_raw())
        else:
            content = await response.aread()
    finally:
        await response.aclose()
    read = httpx.Response(response.status_code, headers=response.headers, content=content,
                          request=request)
    read.elapsed = response.elapsed
    return read


def declared_code(operation: Any, response: httpx.Response) -> None:
    """A refusal's API code is one the document shows an example of for that status of
    the operation (gateway/openapi.py): the examples are what the route really answers."""
    declared = operation.definition.raw["responses"].get(str(response.status_code))
    if response.status_code < 400 or declared is None:  # undeclared: status_code_conformance
        return
    code = response.json().get("error")
    shown = declared.get("content", {}).get("application/json", {}).get("examples", {})
    assert code in shown, (f"{operation.label} answered {response.status_code} {code}, "
                           f"the document shows {sorted(shown)}: {response.text[:200]}")


def _fuzz(schema: Any, operation: Any, headers: dict[str, str], send: Send,
          answered: Counter[int]) -> list[str]:
    """One operation's cases (the document's examples, boundary values of each parameter,
    then generated ones, valid and invalid); its failures, as text."""
    failures: list[str] = []

    def run(case: Any) -> None:
        case.headers = {**(case.headers or {}), **headers}
        response = send(case.as_transport_kwargs(base_url=""))
        answered[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)
        declared_code(operation, response)

    config = HypothesisTestConfig(
        project=schema.config, modes=list(HypothesisTestMode),
        settings=settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                          database=None, phases=[Phase.explicit, Phase.generate],
                          suppress_health_check=list(HealthCheck)))
    test = create_test(operation=operation, test_func=run, config=config)
    try:
        test()
    except Unsatisfiable:  # nothing to make invalid: the fixed headers are all it takes
        pass
    except (Exception, BaseExceptionGroup) as exc:  # schemathesis reports it in full
        failures.append(f"{operation.label}: {exc}")
    return failures


def _anonymous(operation: Any, send: Send) -> list[str]:
    """The operation called without credentials (and an empty body): its refusal must be
    declared too, in the right envelope and media type."""
    params = [p["name"] for p in operation.definition.raw.get("parameters", [])
              if p["in"] == "path"]
    body = {"media_type": "application/json", "body": {}} if operation.body else {}
    case = operation.Case(path_parameters=dict.fromkeys(params, "1"), **body)
    response = send(case.as_transport_kwargs(base_url=""))
    try:
        case.validate_response(response, checks=CHECKS)
        declared_code(operation, response)
    except (Exception, BaseExceptionGroup) as exc:
        return [f"{operation.label} (anonymous): {exc}"]
    return [] if response.status_code in (400, 401) else [
        f"{operation.label} (anonymous): {response.status_code} {response.text[:200]}"]


async def _credentials(api: httpx.AsyncClient) -> dict[str, str]:
    """An admin's JWT (every /api route reaches its handler) and the key pair of an
    instance of theirs, linked to a simulated phone so that its sends go through (an
    admin cannot disable themselves, so the fuzz cannot revoke the pair)."""
    login = await api.post("/api/auth/login", json={"username": ADMIN["admin_user"],
                                                    "password": ADMIN["admin_password"]})
    signed = {"Authorization": f"Bearer {login.json()['access_token']}"}
    made = await api.post("/api/instances", json={"instance_name": "fuzz"}, headers=signed)
    granted = await api.post(f"/api/admin/users/{login.json()['user_id']}/credits",
                             json={"amount": 1_000_000}, headers=signed)
    assert (made.status_code, granted.status_code) == (201, 200), made.text + granted.text
    keys = {"publicKey": made.json()["public_key"], "secretKey": made.json()["secret_key"]}
    assert (await instance_info(api, keys)).status_code == 200
    qr = await api.get("/api/v1/whatsapp/instance/qrcode", params=keys)
    scanned = await api.post("/simulator/scan", json={
        "qr": decode_qr_data_url(qr.json()["data"]["qrCode"]), "phone_number": "15550001234"})
    assert scanned.json()["status"] == "Connected", scanned.text
    return {**signed, "X-Public-Key": keys["publicKey"], "X-Secret-Key": keys["secretKey"]}


@pytest.mark.timeout(240)
async def test_no_operation_of_either_api_answers_5xx_or_off_its_document(
        fresh_nats_url: str, tmp_path: Path) -> None:
    schema = api_schema()
    operations = [result.ok() for result in schema.get_all_operations()]
    store = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    answers: dict[str, Counter[int]] = {}
    failures: list[str] = []
    async with running_services(store, fresh_nats_url, tmp_path, **ADMIN, **OPEN) as config, \
            real_gateway(config) as api:
        headers = await _credentials(api)
        loop = asyncio.get_running_loop()

        def send(kwargs: dict[str, Any]) -> httpx.Response:
            return asyncio.run_coroutine_threadsafe(_request(api, kwargs), loop).result(60)

        for operation in operations:
            answered = answers[operation.label] = Counter()
            failures += await asyncio.to_thread(_fuzz, schema, operation, headers, send,
                                                answered)
            failures += await asyncio.to_thread(_anonymous, operation, send)
    assert not failures, "\n\n".join(failures)
    assert {f"{op.method.upper()} {op.path}" for op in operations} == api_routes()
    # the credentials work: no operation was refused them every time, and most succeed
    assert not [label for label, seen in answers.items() if set(seen) == {401}]
    succeeded = [label for label, seen in answers.items() if any(s < 300 for s in seen)]
    assert len(succeeded) > len(operations) // 2, answers
