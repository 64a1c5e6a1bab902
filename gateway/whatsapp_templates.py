"""A Meta template in a Messaging API send (`whatsapp_template`), in Meta's own shape:
the only message the Cloud API sends outside the 24-hour window. Checked here for its
shape (so the OpenAPI document shows it), again by messaging, and for its content by
Meta. Not Switchboard's own templates (`template_id`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from gateway.text import RequestBody


class TemplateLanguage(RequestBody):
    code: str = Field(pattern=r"^[a-z]{2,3}(_[A-Z][A-Za-z]{1,3})?$", examples=["en_US"])
    policy: Literal["deterministic"] = "deterministic"


class WhatsAppTemplate(RequestBody):
    """Meta's `template` object: an approved template's name and language, and the
    components that fill its parameters, as Meta documents them."""

    name: str = Field(pattern=r"^[a-z0-9_]{1,512}$", examples=["order_update"])
    language: TemplateLanguage
    components: list[dict[str, Any]] = Field(
        default_factory=list, max_length=20,
        examples=[[{"type": "body", "parameters": [{"type": "text", "text": "Ada"},
                                                   {"type": "text", "text": "#42"}]}]])


def template_json(template: WhatsAppTemplate | None) -> str:
    """The template as the send request carries it; empty without one."""
    return "" if template is None else template.model_dump_json()
