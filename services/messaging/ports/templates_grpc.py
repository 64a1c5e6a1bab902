"""The template rpcs of MessagingService, mixed into its servicer."""

from __future__ import annotations

from functools import partial

import grpc

from kernel.clock import to_timestamp
from services.messaging.app import templates as app
from services.messaging.app.templates import Templates
from services.messaging.domain.templates import Template
from switchboard.messaging.v1 import messaging_pb2 as pb


def template_reply(found: Template) -> pb.Template:
    return pb.Template(template_id=found.template_id, name=found.name, body=found.body,
                       variables=found.variables, created_at=to_timestamp(found.created_at),
                       updated_at=to_timestamp(found.updated_at))


class TemplateRpcs:
    """Needs `self._templates`; with None every template rpc is UNIMPLEMENTED."""

    _templates: Templates | None

    async def _store(self, context: grpc.aio.ServicerContext) -> Templates:
        if self._templates is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "templates are off")
        assert self._templates is not None
        return self._templates

    async def CreateTemplate(self, request: pb.CreateTemplateRequest,
                             context: grpc.aio.ServicerContext) -> pb.Template:
        store = await self._store(context)
        return template_reply(await app.create_template(
            request.user_id, request.name, request.body, store))

    async def GetTemplate(self, request: pb.TemplateRef,
                          context: grpc.aio.ServicerContext) -> pb.Template:
        store = await self._store(context)
        return template_reply(await app.get_template(request.user_id, request.template_id,
                                                     store))

    async def ListTemplates(self, request: pb.ListTemplatesRequest,
                            context: grpc.aio.ServicerContext) -> pb.ListTemplatesResponse:
        found = await app.list_templates(request.user_id, await self._store(context))
        return pb.ListTemplatesResponse(templates=[template_reply(t) for t in found])

    async def UpdateTemplate(self, request: pb.UpdateTemplateRequest,
                             context: grpc.aio.ServicerContext) -> pb.Template:
        update = partial(app.update_template, request.user_id, request.template_id,
                         request.name, request.body)
        return template_reply(await update(await self._store(context)))

    async def DeleteTemplate(self, request: pb.TemplateRef,
                             context: grpc.aio.ServicerContext) -> pb.DeleteTemplateResponse:
        await app.delete_template(request.user_id, request.template_id,
                                  await self._store(context))
        return pb.DeleteTemplateResponse()
