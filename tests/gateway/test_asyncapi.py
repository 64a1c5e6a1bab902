"""The event bus's AsyncAPI document (gateway/asyncapi.py): valid against the official
AsyncAPI 3.0 schema, listing exactly the events the services' codecs publish (and every
one a subscription reads), served by the gateway, and rendered in docs/events.md."""

from __future__ import annotations

import copy
from pathlib import Path

import httpx
import jsonschema

from gateway.app import create_app
from gateway.asyncapi import document, event_types, markdown
from gateway.settings import GatewaySettings
from kernel.config import SERVICES
from services.auth.adapters.codec import auth_codec
from services.billing.adapters.codec import billing_codec
from services.device.adapters.codec import device_codec
from services.messaging.adapters.codec import messaging_codec
from tests.support.asyncapi_specs import asyncapi_schema
from tests.support.topology import declared

ROOT = Path(__file__).resolve().parents[2]
CODECS = {"auth": auth_codec, "billing": billing_codec, "messaging": messaging_codec,
          "device": device_codec}


def test_the_document_validates_against_the_asyncapi_schema() -> None:
    validator = jsonschema.Draft7Validator(asyncapi_schema("3.0.0"))
    doc = document()
    assert [e.message for e in validator.iter_errors(doc)] == []
    broken = copy.deepcopy(doc)  # the check bites: an unknown action is refused
    next(iter(broken["operations"].values()))["action"] = "consume"
    assert list(validator.iter_errors(broken))


async def test_it_lists_every_event_each_service_publishes_and_nothing_else(
        nats_url: str, tmp_path: Path) -> None:
    doc = document()
    addresses = {c["address"] for c in doc["channels"].values()}
    published = {f"sb.{service}.{name}" for service in SERVICES
                 for name in CODECS[service]().event_types}
    assert addresses == published
    assert {f"sb.{s}.{t}" for s, types in event_types().items() for t in types} == published
    assert "sb.device.MessageReceived" in addresses  # from proto/, nothing by hand
    subscriptions = await declared(nats_url, tmp_path)  # each service's bootstrap
    read = {f"sb.{s.source}.{event}" for subs in subscriptions.values() for s in subs
            for event in s.events}
    assert read and read <= addresses  # every event a subscription reads is in it


def test_each_event_names_its_protobuf_payload_and_its_headers() -> None:
    doc = document()
    queued = doc["components"]["messages"]["messaging.MessageQueued"]
    assert queued["x-protobuf-message"] == "switchboard.messaging.v1.MessageQueued"
    assert queued["contentType"] == "application/x-protobuf"
    assert set(queued["headers"]["required"]) == {"Nats-Msg-Id", "Sb-Event"}
    schema = doc["components"]["schemas"]["switchboard.messaging.v1.MessageQueued"]
    assert schema["properties"]["bulkJobId"] == {"type": "string", "x-protobuf-field": 9}
    assert schema["properties"]["media"]["$ref"].endswith("v1.MediaAttachment")
    assert schema["properties"]["queuedAt"]["format"] == "date-time"
    for words in ("At least once", "Nats-Msg-Id", "Order per stream", "reader"):
        assert words in doc["info"]["description"]


async def test_the_gateway_serves_it_unless_the_api_docs_are_off(tmp_path: Path) -> None:
    for docs_on in (True, False):
        settings = GatewaySettings(var_dir=tmp_path, api_docs=docs_on,
                                   nats_url="nats://user:pw9hunter@nats.example:4333")
        app = create_app(settings)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://gw") as client:
            answer = await client.get("/asyncapi.json")
        if docs_on:
            assert answer.status_code == 200
            assert answer.json() == document(server="nats.example:4333")
            assert "pw9hunter" not in answer.text and "user:" not in answer.text
        else:
            assert answer.status_code == 404 and answer.json()["error"] == "NOT_FOUND"


def _rows(text: str) -> list[list[str]]:
    """The subject table's subject, stream and payload columns (fields may lag: a field
    added in proto/ is in /asyncapi.json at once, in the page when it is regenerated)."""
    return [line.split(" | ")[:3] for line in text.splitlines() if line.startswith("| `sb.")]


def test_docs_events_md_shows_the_rendered_document() -> None:
    shown = (ROOT / "docs" / "events.md").read_text()
    expected = markdown(document())
    regenerate = "regenerate: .venv/bin/python -m gateway.asyncapi --markdown > docs/events.md"
    assert _rows(shown) == _rows(expected) and len(_rows(shown)) > 40, regenerate
    assert shown.split("## Subjects")[0] == expected.split("## Subjects")[0], regenerate
