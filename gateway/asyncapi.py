"""The event bus as a public contract: an AsyncAPI 3.0 document generated from the
protobuf descriptors of `proto/switchboard/<service>/v1/events.proto`.

Every top-level message of a service's events.proto that no other message there uses as
a field is an event, published on `sb.<service>.<Event>` in the stream `SB_<SERVICE>`;
the others (MediaAttachment, ...) are parts of events. Nothing here is written by hand
per event, so a new event or field in proto/ appears in the document by itself. The
gateway serves it at /asyncapi.json; `python -m gateway.asyncapi --markdown` renders
docs/events.md from it (tests/docs/test_events_doc.py keeps the two equal).
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor, FileDescriptor

from kernel.config import SERVICES
from kernel.subjects import stream_name, subject

READER = "reader"  # launcher/natsauth.py's subscribe-only user
PROTOBUF = "application/x-protobuf"
GUARANTEES = (
    "Each event is published once it is committed to its service's event store (the "
    "store is the outbox), on `sb.<service>.<Event>`, kept in the JetStream stream "
    "`SB_<SERVICE>`.\n\n"
    "- **At least once.** A relay that crashed after publishing and before recording its "
    "position publishes again: an event may arrive twice.\n"
    "- **`Nats-Msg-Id` = the event id** (a UUID). The broker drops a copy published again "
    "within its 2-minute duplicate window; a consumer dedups by this header beyond it.\n"
    "- **Order per stream.** Within one service's stream events are published in the "
    "order they were committed; across services there is no order (status is a lattice: "
    "queued < sending < sent < delivered < read, failed terminal).\n"
    "- **`Sb-Event` header**: event id, stream version, recording time (ISO 8601), "
    "correlation id, causation id and stream id, one space apart (the stream id last; it "
    "may hold spaces). The event type is the subject's last token.\n"
    "- **Payload**: the protobuf message named by the message's `x-protobuf-message` "
    "(binary, proto3) from `proto/`; the JSON Schema beside it follows proto3's JSON "
    "mapping. Fields holding secrets (password and key hashes, webhook secrets) are "
    "always empty on the bus.\n"
    "- **Compatibility**: fields are only added, never renumbered or removed; ignore "
    "fields and events you do not know.\n\n"
    f"Outside systems subscribe as the NATS user `{READER}`: subscribe on `sb.>` only, no "
    "publish (docs/operations.md, Security model, NATS). It is a live subscription: what "
    "is published while it is away is not replayed to it.")
SCALARS = {
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
    FieldDescriptor.TYPE_DOUBLE: {"type": "number"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number"},
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_INT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_SINT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_UINT64: {"type": "string", "format": "int64"},
}
WELL_KNOWN = {"google.protobuf.Timestamp": {"type": "string", "format": "date-time"}}


def events_file(service: str) -> FileDescriptor:
    module = importlib.import_module(f"switchboard.{service}.v1.events_pb2")
    descriptor: FileDescriptor = module.DESCRIPTOR
    return descriptor


def event_messages(service: str) -> list[Descriptor]:
    """The service's events: its events.proto's top-level messages no other uses."""
    file = events_file(service)
    used = {f.message_type.full_name for m in file.message_types_by_name.values()
            for f in m.fields if f.message_type is not None}
    return [m for m in file.message_types_by_name.values() if m.full_name not in used]


def event_types() -> dict[str, list[str]]:
    """Each service's event type names, as the relay publishes them."""
    return {service: [m.name for m in event_messages(service)] for service in SERVICES}


def _ref(full_name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{full_name}"}


def _field_schema(field: FieldDescriptor) -> dict[str, Any]:
    if field.message_type is not None:
        name = field.message_type.full_name
        one: dict[str, Any] = dict(WELL_KNOWN.get(name) or _ref(name))
    elif field.enum_type is not None:
        one = _ref(field.enum_type.full_name)
    else:
        one = dict(SCALARS[field.type])
    one["x-protobuf-field"] = field.number
    if field.is_repeated:
        return {"type": "array", "items": one, "x-protobuf-field": field.number}
    return one


def _enum_schema(enum: EnumDescriptor) -> dict[str, Any]:
    return {"type": "string", "enum": [v.name for v in enum.values],
            "x-protobuf-enum": enum.full_name}


def _schemas(message: Descriptor) -> Iterator[tuple[str, dict[str, Any]]]:
    """The message's schema and those of the messages and enums its fields use."""
    yield message.full_name, {
        "type": "object", "x-protobuf-message": message.full_name,
        "properties": {f.json_name: _field_schema(f) for f in message.fields}}
    for field in message.fields:
        if field.message_type is not None and field.message_type.full_name not in WELL_KNOWN:
            yield from _schemas(field.message_type)
        if field.enum_type is not None:
            yield field.enum_type.full_name, _enum_schema(field.enum_type)


HEADERS = {
    "type": "object",
    "required": ["Nats-Msg-Id", "Sb-Event"],
    "properties": {
        "Nats-Msg-Id": {"type": "string", "format": "uuid",
                        "description": "The event id: dedup by it."},
        "Sb-Event": {"type": "string", "description": "event id, stream version, recorded "
                     "at, correlation id, causation id, stream id; one space apart"},
    },
}


def _key(service: str, event: str) -> str:
    return f"{service}.{event}"


def document(version: str = "1.0.0", server: str = "127.0.0.1:4222") -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for service in SERVICES:
        for event in event_messages(service):
            key, address = _key(service, event.name), subject(service, event.name)
            schemas.update(_schemas(event))
            messages[key] = {
                "name": event.name, "title": f"{service} {event.name}",
                "summary": f"Published by {service} on {address}, stream "
                           f"{stream_name(service)}.",
                "contentType": PROTOBUF, "headers": HEADERS,
                "payload": _ref(event.full_name), "x-protobuf-message": event.full_name,
                "x-protobuf-file": event.file.name,
            }
            channels[key] = {
                "address": address, "x-stream": stream_name(service),
                "messages": {event.name: {"$ref": f"#/components/messages/{key}"}},
            }
            operations[f"receive.{key}"] = {
                "action": "receive", "channel": {"$ref": f"#/channels/{key}"},
                "messages": [{"$ref": f"#/channels/{key}/messages/{event.name}"}],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Switchboard event bus", "version": version,
                 "description": GUARANTEES},
        "defaultContentType": PROTOBUF,
        "servers": {"nats": {
            "host": server, "protocol": "nats",
            "description": "The stack's nats-server (SWITCHBOARD_NATS_PORT).",
            "security": [{"$ref": "#/components/securitySchemes/reader"}]}},
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages, "schemas": schemas,
            "securitySchemes": {"reader": {
                "type": "userPassword",
                "description": f"NATS user `{READER}` (subscribe on sb.> only); its "
                               "password is var/secrets/nats-reader under `switchboard "
                               "up`, the Secret key nats-reader-password in Kubernetes."}},
        },
    }


def markdown(doc: dict[str, Any]) -> str:
    """docs/events.md: the guarantees, then a table of every subject and its fields."""
    schemas = doc["components"]["schemas"]
    lines = ["# Events: the bus as a public contract", "",
             "Generated by `python -m gateway.asyncapi --markdown > docs/events.md` from "
             "the AsyncAPI document the gateway serves at `/asyncapi.json` (itself "
             "generated from `proto/`); do not edit by hand.", "",
             "## Guarantees", "", doc["info"]["description"], "",
             "## Subjects", "",
             "| subject | stream | payload | fields (number: name type) |",
             "|---|---|---|---|"]
    for key, channel in doc["channels"].items():
        message = doc["components"]["messages"][key]
        full = message["x-protobuf-message"]
        fields = ", ".join(f"{p['x-protobuf-field']}: `{name}` {_type_word(p)}"
                           for name, p in schemas[full]["properties"].items())
        lines.append(f"| `{channel['address']}` | `{channel['x-stream']}` | `{full}` "
                     f"| {fields} |")
    return "\n".join(lines) + "\n"


def _type_word(prop: dict[str, Any]) -> str:
    if prop.get("type") == "array":
        return _type_word(prop["items"]) + "[]"
    if "$ref" in prop:
        return prop["$ref"].rsplit(".", 1)[-1]
    return str(prop.get("format") or prop["type"])


if __name__ == "__main__":
    doc = document()
    if "--markdown" in sys.argv:
        sys.stdout.write(markdown(doc))
    else:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
