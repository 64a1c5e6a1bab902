"""Message templates: /api/templates (the seed's "Template messaging"), the signed-in
user's own. `body` holds `{{variable}}` placeholders that a send's `variables` fill in.
Another user's template id answers 404 NOT_FOUND, as an unknown one does."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import Field

from gateway.deps import CurrentUser, ServiceClients
from gateway.leanroute import api_router
from gateway.shapes import (
    TemplateDeleted,
    TemplateDoc,
    TemplateList,
    TemplateSaved,
    refusals,
)
from gateway.text import RequestBody
from gateway.timefmt import iso_z
from switchboard.messaging.v1 import messaging_pb2

router = api_router(prefix="/api/templates", tags=["templates"],
                   responses=refusals(401, 404))

TemplateId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class TemplateBody(RequestBody):
    name: str = Field(max_length=200, examples=["welcome"])
    body: str = Field(max_length=20000, examples=["Hello {{name}}, welcome to {{company}}!"])


def template_doc(found: messaging_pb2.Template) -> dict[str, object]:
    return {"id": found.template_id, "name": found.name, "body": found.body,
            "variables": list(found.variables), "created_at": iso_z(found.created_at),
            "updated_at": iso_z(found.updated_at)}


@router.post("", status_code=201, response_model=TemplateSaved)
async def create_template(body: TemplateBody, user: CurrentUser,
                          clients: ServiceClients) -> dict[str, object]:
    """A new template: `{{name}}` placeholders in `body` become its `variables`."""
    created = await clients.messaging.CreateTemplate(messaging_pb2.CreateTemplateRequest(
        user_id=user.user_id, name=body.name, body=body.body))
    return {"message": "Template created successfully", "template": template_doc(created)}


@router.get("", response_model=TemplateList)
async def list_templates(user: CurrentUser, clients: ServiceClients) -> dict[str, object]:
    """The user's templates, by id."""
    found = await clients.messaging.ListTemplates(messaging_pb2.ListTemplatesRequest(
        user_id=user.user_id))
    return {"templates": [template_doc(t) for t in found.templates]}


@router.get("/{template_id}", response_model=TemplateDoc)
async def get_template(template_id: TemplateId, user: CurrentUser,
                       clients: ServiceClients) -> dict[str, object]:
    """One of the user's templates; another user's id is 404."""
    return template_doc(await clients.messaging.GetTemplate(messaging_pb2.TemplateRef(
        user_id=user.user_id, template_id=template_id)))


@router.put("/{template_id}", response_model=TemplateSaved)
async def update_template(template_id: TemplateId, body: TemplateBody, user: CurrentUser,
                          clients: ServiceClients) -> dict[str, object]:
    """Replace a template's name and body."""
    updated = await clients.messaging.UpdateTemplate(messaging_pb2.UpdateTemplateRequest(
        user_id=user.user_id, template_id=template_id, name=body.name, body=body.body))
    return {"message": "Template updated successfully", "template": template_doc(updated)}


@router.delete("/{template_id}", response_model=TemplateDeleted)
async def delete_template(template_id: TemplateId, user: CurrentUser,
                          clients: ServiceClients) -> dict[str, object]:
    """Delete a template; sends naming it are refused from then on (404)."""
    await clients.messaging.DeleteTemplate(messaging_pb2.TemplateRef(
        user_id=user.user_id, template_id=template_id))
    return {"message": "Template deleted successfully", "template_id": template_id}
