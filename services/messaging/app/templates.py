"""Template commands and queries, each `handle(cmd, deps)`, and the body a send uses
(its message or a template's)."""

from __future__ import annotations

from dataclasses import dataclass

from kernel.changes import retrying
from kernel.errors import UnavailableError
from services.messaging.app.dependencies import MessagingDeps, Templates
from services.messaging.domain.errors import MessagingError
from services.messaging.domain.templates import Template, VariableLimits


class TemplatesBusyError(MessagingError, UnavailableError):
    """Other writers kept changing the same templates; the caller may try again."""


def busy() -> TemplatesBusyError:
    return TemplatesBusyError("Templates are busy; try again")


@dataclass(frozen=True)
class CreateTemplate:
    user_id: int
    name: str
    body: str


@dataclass(frozen=True)
class UpdateTemplate:
    user_id: int
    template_id: int
    name: str
    body: str


@dataclass(frozen=True)
class ListTemplates:
    user_id: int


@dataclass(frozen=True)
class TemplateRef:
    """Names one template of a user: to get it or delete it."""

    user_id: int
    template_id: int


async def create_template(cmd: CreateTemplate, deps: MessagingDeps) -> Template:
    templates = deps.templates

    async def attempt() -> Template:
        book, ids = await templates.book(cmd.user_id), await templates.ids()
        created = book.create(ids.allocate(), cmd.name, cmd.body, deps.clock())
        await templates.save(ids, book)
        return created

    return await retrying(attempt, busy=busy)


async def get_template(query: TemplateRef, deps: MessagingDeps) -> Template:
    return (await deps.templates.book(query.user_id)).get(query.template_id)


async def list_templates(query: ListTemplates, deps: MessagingDeps) -> list[Template]:
    book = await deps.templates.book(query.user_id)
    return sorted(book.templates.values(), key=lambda t: t.template_id)


async def update_template(cmd: UpdateTemplate, deps: MessagingDeps) -> Template:
    async def attempt() -> Template:
        book = await deps.templates.book(cmd.user_id)
        updated = book.update(cmd.template_id, cmd.name, cmd.body, deps.clock())
        await deps.templates.save(book)
        return updated

    return await retrying(attempt, busy=busy)


async def delete_template(cmd: TemplateRef, deps: MessagingDeps) -> None:
    async def attempt() -> None:
        book = await deps.templates.book(cmd.user_id)
        book.delete(cmd.template_id, deps.clock())
        await deps.templates.save(book)

    await retrying(attempt, busy=busy)


async def message_text(user_id: int, message: str, template_id: int,
                       variables: dict[str, str], templates: Templates,
                       limits: VariableLimits = VariableLimits()) -> str:
    """The body to send: the template rendered with `variables` when one is named."""
    limits.check(variables)
    if not template_id:
        return message
    return (await templates.book(user_id)).get(template_id).render(variables)
