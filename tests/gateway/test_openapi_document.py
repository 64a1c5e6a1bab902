"""The OpenAPI document states the shapes the gateway really sends: every operation of
both APIs names its success document and its refusals in its own API's error envelope
(the Instance API's under /api/v1/whatsapp, the Messaging API's elsewhere), and no
operation declares the 422 that FastAPI would, since invalid input is 400."""

from __future__ import annotations

from typing import Any

from gateway.app import create_app
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
        else:
            assert _ref(success).startswith("#/components/schemas/"), (method, path, code)
