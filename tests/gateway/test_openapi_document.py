"""The OpenAPI document states the shapes the gateway really sends: every operation of
both APIs names its success document and its refusals in its own API's error envelope
(the Instance API's under /api/v1/whatsapp, the Messaging API's elsewhere), and no
operation declares the 422 that FastAPI would, since invalid input is 400."""

from __future__ import annotations

from typing import Any

from gateway import openapi
from gateway.app import create_app
from gateway.codes import HTTP_STATUS
from gateway.settings import GatewaySettings

V1 = "/api/v1/whatsapp/"
ENVELOPES = {"ErrorBody": {"error", "message", "code"},
             "V1Error": {"success", "message", "error", "data"}}


def _ref(response: dict[str, Any], media: str = "application/json") -> str:
    return str(response.get("content", {}).get(media, {}).get("schema", {}).get("$ref", ""))


def test_every_operation_names_its_answer_and_its_refusals_in_its_envelope() -> None:
    document = create_app(GatewaySettings()).openapi()
    schemas = document["components"]["schemas"]
    for name, fields in ENVELOPES.items():
        assert set(schemas[name]["properties"]) == fields
        assert set(schemas[name]["required"]) == fields
    assert "HTTPValidationError" not in schemas
    operations = [(path, method, op) for path, ops in document["paths"].items()
                  if path.startswith("/api/") for method, op in ops.items()]
    assert len(operations) >= 35
    for path, method, op in operations:
        responses = op["responses"]
        assert "422" not in responses, (method, path)
        envelope = "V1Error" if path.startswith(V1) else "ErrorBody"
        refusals = {code: r for code, r in responses.items() if code >= "400"}
        assert {"400", "413", "429", "500", "503"} <= set(refusals), (method, path)
        assert all(_ref(r).endswith(f"/{envelope}") for r in refusals.values()), (method, path)
        [(code, success)] = [(c, r) for c, r in responses.items() if c < "300"]
        if path == "/api/messages/stream":
            assert "text/event-stream" in success["content"]
        elif path.endswith("/media") and method == "get":  # a received file, as it came
            binary = success["content"]["application/octet-stream"]["schema"]
            assert binary == {"type": "string", "format": "binary"}, (method, path)
        else:
            assert _ref(success).startswith("#/components/schemas/"), (method, path, code)


SECURED = {"bearerAuth", "publicKeyHeader", "secretKeyHeader", "publicKeyQuery",
           "secretKeyQuery"}
CREDENTIALS = {"authorization", "x-public-key", "x-secret-key", "publickey", "secretkey"}


SEED_IDS = {
    "register": "/api/auth/register", "login": "/api/auth/login",
    "getProfile": "/api/users/user/profile", "getCredits": "/api/users/user/credits",
    "sendMessage": "/api/messages/send-message",
    "sendBulkMessage": "/api/messages/send-bulk-message",
    "messageStatus": "/api/messages/message-status/{queue_id}",
    "listMessages": "/api/messages/messages", "v1Instance": "/api/v1/whatsapp/instance",
    "v1Qrcode": "/api/v1/whatsapp/instance/qrcode", "v1Quota": "/api/v1/whatsapp/quota",
    "v1RenewSubscription": "/api/v1/whatsapp/subscription/renew",
    "v1Send": "/api/v1/whatsapp/send",
}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in document["paths"].items()
            for method, op in ops.items()]


def test_every_operation_has_a_stable_id_a_description_its_security_and_no_auth_parameter(
        ) -> None:
    """Routes added later are held to the same: a docstring, their route's own name as
    id (rename a route whose name another has), security from their dependencies."""
    app = create_app(GatewaySettings())
    document = app.openapi()
    ids = {}
    for route, method, op in openapi.operations(app, document):
        assert op["operationId"] == openapi.operation_id(route, method), (
            f"{method} {route.path_format}: another route is named {route.name!r}; rename one")
        ids[op["operationId"]] = route.path_format
        assert op.get("description", "").strip(), f"{method} {route.path_format}: no docstring"
        assert not {p["name"].lower() for p in op.get("parameters", [])} & CREDENTIALS
    assert len(ids) == sum(len(ops) for ops in document["paths"].values())
    assert set(document["components"]["securitySchemes"]) == SECURED
    for path, method, op in _operations(document):
        if path.startswith(V1):
            assert op["security"] == openapi.KEY_PAIR, (method, path)
        elif path.startswith("/api/") and path not in ("/api/auth/login",
                                                       "/api/auth/register"):
            assert op["security"] == [{"bearerAuth": []}], (method, path)
        elif path.startswith("/simulator/"):
            assert {"bearerAuth": []} in op["security"] and {} in op["security"]
        else:
            assert "security" not in op, (method, path)
    # the seeds' operations keep these ids: a client generated today still works tomorrow
    assert {op: ids.get(op) for op in SEED_IDS} == SEED_IDS



def test_model_names_are_unique_and_plain_and_tags_are_ordered_and_described() -> None:
    document = create_app(GatewaySettings()).openapi()
    schemas = document["components"]["schemas"]
    assert not [name for name in schemas if "__" in name or "." in name]
    assert {"SendMessageBody", "InstanceSendBody"} <= set(schemas)
    named = {tag for *_, op in _operations(document) for tag in op["tags"]}
    tags = document["tags"]
    assert {tag["name"] for tag in tags} == named
    assert all(tag.get("description") for tag in tags), (
        "describe each tag in gateway/openapi.py TAGS")
    order = [tag["name"] for tag in tags]
    assert order.index("auth") < order.index("messages") < order.index("instance api")


def test_each_refusal_shows_an_example_per_code_of_its_status_in_its_envelope() -> None:
    """The codes are the route's own: INSUFFICIENT_CREDITS only where credits are spent,
    QUOTA_EXCEEDED only where quota is, each under the status errors.py sends it with."""
    document = create_app(GatewaySettings()).openapi()
    shown: dict[str, set[str]] = {}
    for path, method, op in _operations(document):
        if not path.startswith("/api/"):
            continue
        for status, response in op["responses"].items():
            if status < "400":
                continue
            examples = response["content"]["application/json"]["examples"]
            assert examples, (method, path, status)
            for code, example in examples.items():
                body = example["value"]
                assert HTTP_STATUS[code] == int(status) and body["error"] == code
                assert set(body) == ENVELOPES["V1Error" if path.startswith(V1) else "ErrorBody"]
                shown.setdefault(code, set()).add(f"{method.upper()} {path}")
    assert shown["INSUFFICIENT_CREDITS"] <= {
        "POST /api/messages/send-message", "POST /api/messages/send-bulk-message",
        "POST /api/messages/send-media"}
    assert shown["QUOTA_EXCEEDED"] <= {
        "POST /api/v1/whatsapp/send", "POST /api/v1/whatsapp/send-media"}
    assert "INSTANCE_NOT_CONNECTED" in {
        code for code in document["paths"]["/api/v1/whatsapp/send"]["post"]["responses"][
            "409"]["content"]["application/json"]["examples"]}
    assert shown["INVALID_CREDENTIALS"] == {p for p in shown["INVALID_REQUEST"] if V1 in p}
