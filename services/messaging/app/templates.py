"""Template commands and queries, and the body a send uses (its message or a template's)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from kernel.aggregate import Aggregate
from kernel.changes import retrying
from kernel.clock import utcnow
from kernel.errors import UnavailableError
from services.messaging.domain.errors import MessagingError, TemplateNotFoundError
from services.messaging.domain.templates import (
    Template,
    TemplateBook,
    TemplateIds,
    VariableLimits,
)


class TemplatesBusyError(MessagingError, UnavailableError):
    """Other writers kept changing the same templates; the caller may try again."""


def busy() -> TemplatesBusyError:
    return TemplatesBusyError("Templates are busy; try again")


class Templates(Protocol):
    async def book(self, user_id: int) -> TemplateBook: ...

    async def ids(self) -> TemplateIds: ...

    async def save(self, *aggregates: Aggregate) -> None: ...


async def create_template(user_id: int, name: str, body: str, templates: Templates,
                          clock: Callable[[], datetime] = utcnow) -> Template:
    async def attempt() -> Template:
        book, ids = await templates.book(user_id), await templates.ids()
        created = book.create(ids.allocate(), name, body, clock())
        await templates.save(ids, book)
        return created

    return await retrying(attempt, busy=busy)


async def get_template(user_id: int, template_id: int, templates: Templates) -> Template:
    return (await templates.book(user_id)).get(template_id)


async def list_templates(user_id: int, templates: Templates) -> list[Template]:
    book = await templates.book(user_id)
    return sorted(book.templates.values(), key=lambda t: t.template_id)


async def update_template(user_id: int, template_id: int, name: str, body: str,
                          templates: Templates,
                          clock: Callable[[], datetime] = utcnow) -> Template:
    async def attempt() -> Template:
        book = await templates.book(user_id)
        updated = book.update(template_id, name, body, clock())
        await templates.save(book)
        return updated

    return await retrying(attempt, busy=busy)


async def delete_template(user_id: int, template_id: int, templates: Templates,
                          clock: Callable[[], datetime] = utcnow) -> None:
    async def attempt() -> None:
        book = await templates.book(user_id)
        book.delete(template_id, clock())
        await templates.save(book)

    await retrying(attempt, busy=busy)


async def message_text(user_id: int, message: str, template_id: int,
                       variables: dict[str, str], templates: Templates | None,
                       limits: VariableLimits = VariableLimits()) -> str:
    """The body to send: the template rendered with `variables` when one is named."""
    limits.check(variables)
    if not template_id:
        return message
    if templates is None:
        raise TemplateNotFoundError(template_id)
    return (await get_template(user_id, template_id, templates)).render(variables)
