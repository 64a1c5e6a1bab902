"""The template rpcs of MessagingService, mixed into its servicer: requests to commands,
results to replies."""

from __future__ import annotations

from typing import TypeAlias

import grpc

from kernel.clock import to_timestamp
from services.messaging.app import templates as app
from services.messaging.app.dependencies import MessagingDeps
from services.messaging.domain.templates import Template
from switchboard.messaging.v1 import messaging_pb2 as pb

Ctx: TypeAlias = grpc.aio.ServicerContext


def template_reply(found: Template) -> pb.Template:
    return pb.Template(template_id=found.template_id, name=found.name, body=found.body,
                       variables=found.variables, created_at=to_timestamp(found.created_at),
                       updated_at=to_timestamp(found.updated_at))


class TemplateRpcs:
    deps: MessagingDeps

    async def CreateTemplate(self, request: pb.CreateTemplateRequest, context: Ctx
                             ) -> pb.Template:
        cmd = app.CreateTemplate(request.user_id, request.name, request.body)
        return template_reply(await app.create_template(cmd, self.deps))

    async def GetTemplate(self, request: pb.TemplateRef, context: Ctx) -> pb.Template:
        query = app.TemplateRef(request.user_id, request.template_id)
        return template_reply(await app.get_template(query, self.deps))

    async def ListTemplates(self, request: pb.ListTemplatesRequest, context: Ctx
                            ) -> pb.ListTemplatesResponse:
        found = await app.list_templates(app.ListTemplates(request.user_id), self.deps)
        return pb.ListTemplatesResponse(templates=[template_reply(t) for t in found])

    async def UpdateTemplate(self, request: pb.UpdateTemplateRequest, context: Ctx
                             ) -> pb.Template:
        cmd = app.UpdateTemplate(request.user_id, request.template_id, request.name,
                                 request.body)
        return template_reply(await app.update_template(cmd, self.deps))

    async def DeleteTemplate(self, request: pb.TemplateRef, context: Ctx
                             ) -> pb.DeleteTemplateResponse:
        await app.delete_template(app.TemplateRef(request.user_id, request.template_id),
                                  self.deps)
        return pb.DeleteTemplateResponse()
