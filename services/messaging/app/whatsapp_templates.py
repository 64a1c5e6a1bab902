"""A send that names a Meta template instead of a text: the only message the Cloud API
lets a business send outside the 24-hour window after the customer's last message.

Meta's own `template` object is taken as it is (name, language code, components with
their parameters), checked for its shape here and for its content by Meta; the message
carries it as JSON to the device service, whose cloud transport sends it. Only the cloud
transport has templates: on any other the send is refused before it is charged. These
are not Switchboard's own templates (`template_id`, rendered into a text)."""

from __future__ import annotations

import json
import re
from typing import Any

from services.messaging.app.dependencies import MessagingDeps
from services.messaging.domain.errors import (
    InvalidMessageBodyError,
    WhatsAppTemplateUnsupportedError,
)
from services.messaging.domain.model import Message, message_ids

CLOUD = "cloud"
NAME = re.compile(r"^[a-z0-9_]{1,512}$")  # Meta's template names
LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Z][A-Za-z]{1,3})?$")  # en, en_US, zh_Hant, fil
MAX_COMPONENTS = 20


def _refuse(why: str) -> InvalidMessageBodyError:
    return InvalidMessageBodyError(f"whatsapp_template: {why}")


def _object(raw: str) -> dict[str, Any]:
    try:
        found = json.loads(raw)
    except ValueError as exc:
        raise _refuse("not a JSON object") from exc
    if not isinstance(found, dict):
        raise _refuse("not a JSON object")
    return found


def _language(found: dict[str, Any]) -> dict[str, str]:
    language = found.get("language")
    code = language.get("code") if isinstance(language, dict) else None
    if not isinstance(code, str) or not LANGUAGE.match(code):
        raise _refuse("language.code must be a language code such as en_US")
    policy = language.get("policy", "deterministic")  # type: ignore[union-attr]
    if policy != "deterministic":
        raise _refuse('language.policy can only be "deterministic"')
    return {"code": code, "policy": policy}


def _components(found: dict[str, Any]) -> list[dict[str, Any]]:
    components = found.get("components", [])
    if not isinstance(components, list) or len(components) > MAX_COMPONENTS or not all(
            isinstance(c, dict) and isinstance(c.get("type"), str) for c in components):
        raise _refuse(f"components must be at most {MAX_COMPONENTS} objects, each with "
                      "a type (header, body, button, ...)")
    return components


def canonical_template(raw: str) -> tuple[str, str]:
    """Meta's template object as the message keeps it (JSON), and what the history
    shows for it; InvalidMessageBodyError naming what is wrong."""
    found = _object(raw)
    name = found.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise _refuse("name must be a template's name (lowercase letters, digits, _)")
    unknown = sorted(set(found) - {"name", "language", "components"})
    if unknown:
        raise _refuse(f"unknown field {unknown[0]}")
    language, components = _language(found), _components(found)
    template: dict[str, Any] = {"name": name, "language": language}
    if components:
        template["components"] = components
    summary = f"WhatsApp template {name} ({language['code']})"
    return json.dumps(template, separators=(",", ":"), ensure_ascii=False), summary


async def whatsapp_template_message(user_id: int, number: str, raw_template: str,
                                    with_body: bool, id_seed: str,
                                    deps: MessagingDeps) -> Message:
    """The message of a template send (`with_body`: the send also named a message or one
    of Switchboard's own templates), once its shape is right and the transport in use has
    templates; nothing is charged before."""
    if with_body:
        raise _refuse("send either a whatsapp_template or a message / template_id")
    template, summary = canonical_template(raw_template)
    transport = (await deps.pool.status()).transport
    if transport and transport != CLOUD:
        raise WhatsAppTemplateUnsupportedError(transport)
    message = Message(message_ids(id_seed, deps.new_id)())
    message.queue_whatsapp_template(user_id, number, template, summary, deps.clock())
    return message
