"""Message templates: a user's book of them (stream "templates-<user_id>"), the counter
that numbers them (stream "template-ids"), and `{{variable}}` rendering.

Rendering knows the length of its result before it builds it (the literal text plus each
placeholder's value), so a body of many placeholders and a long value is refused without
ever being allocated; a send's variables are capped in number and length beforehand."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from kernel.aggregate import Aggregate
from services.messaging.domain import rules
from services.messaging.domain.errors import (
    InvalidMessageBodyError,
    MissingVariableError,
    TemplateNotFoundError,
)

TEMPLATE_IDS = "ids"
MAX_NAME_CHARS = 100
MAX_TEMPLATES = 1000
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class TemplateCreated:
    template_id: int
    user_id: int
    name: str
    body: str
    created_at: datetime


@dataclass(frozen=True)
class TemplateUpdated:
    template_id: int
    user_id: int
    name: str
    body: str
    updated_at: datetime


@dataclass(frozen=True)
class TemplateDeleted:
    template_id: int
    user_id: int
    deleted_at: datetime


@dataclass(frozen=True)
class TemplateIdAllocated:
    template_id: int


@dataclass(frozen=True)
class Template:
    template_id: int
    name: str
    body: str
    created_at: datetime
    updated_at: datetime

    @property
    def variables(self) -> list[str]:
        return list(dict.fromkeys(PLACEHOLDER.findall(self.body)))

    def render(self, values: Mapping[str, str]) -> str:
        missing = [v for v in self.variables if v not in values]
        if missing:
            raise MissingVariableError(self.template_id, missing)
        parts = PLACEHOLDER.split(self.body)  # literal, name, literal, ..., literal
        literals, names = parts[::2], parts[1::2]
        rules.body_length(sum(map(len, literals)) + sum(len(values[n]) for n in names))
        return rules.message_body(PLACEHOLDER.sub(lambda m: values[m.group(1)], self.body))


@dataclass(frozen=True)
class VariableLimits:
    """How many variables a send may carry, and how long each value may be."""

    max_count: int = 50
    max_chars: int = rules.MAX_BODY_CHARS

    def check(self, values: Mapping[str, str]) -> None:
        if len(values) > self.max_count:
            raise InvalidMessageBodyError(
                f"Too many template variables: {len(values)}, at most {self.max_count}")
        for name, value in values.items():
            if len(name) > MAX_NAME_CHARS or len(value) > self.max_chars:
                raise InvalidMessageBodyError(
                    f"Template variable {name[:40]!r} is too long: names up to "
                    f"{MAX_NAME_CHARS} characters, values up to {self.max_chars}")


def template_name(raw: str) -> str:
    name = raw.strip()
    if not name or len(name) > MAX_NAME_CHARS:
        raise InvalidMessageBodyError(f"name is required (1 to {MAX_NAME_CHARS} characters)")
    return name


class TemplateIds(Aggregate):
    stream_prefix = "template"

    def allocate(self) -> int:
        self._record(TemplateIdAllocated(template_id=self.version + 1))
        return self.version

    def when_TemplateIdAllocated(self, event: TemplateIdAllocated) -> None:
        pass


class TemplateBook(Aggregate):
    """One user's templates; the aggregate id is the user id."""

    stream_prefix = "templates"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.templates: dict[int, Template] = {}

    def get(self, template_id: int) -> Template:
        found = self.templates.get(template_id)
        if found is None:
            raise TemplateNotFoundError(template_id)
        return found

    def create(self, template_id: int, name: str, body: str, now: datetime) -> Template:
        if len(self.templates) >= MAX_TEMPLATES:
            raise InvalidMessageBodyError(f"At most {MAX_TEMPLATES} templates per user")
        self._record(TemplateCreated(template_id, int(self.id), template_name(name),
                                     rules.message_body(body), now))
        return self.templates[template_id]

    def update(self, template_id: int, name: str, body: str, now: datetime) -> Template:
        self.get(template_id)
        self._record(TemplateUpdated(template_id, int(self.id), template_name(name),
                                     rules.message_body(body), now))
        return self.templates[template_id]

    def delete(self, template_id: int, now: datetime) -> None:
        self.get(template_id)
        self._record(TemplateDeleted(template_id, int(self.id), now))

    def when_TemplateCreated(self, e: TemplateCreated) -> None:
        self.templates[e.template_id] = Template(e.template_id, e.name, e.body,
                                                 e.created_at, e.created_at)

    def when_TemplateUpdated(self, e: TemplateUpdated) -> None:
        old = self.templates[e.template_id]
        self.templates[e.template_id] = Template(e.template_id, e.name, e.body,
                                                 old.created_at, e.updated_at)

    def when_TemplateDeleted(self, e: TemplateDeleted) -> None:
        self.templates.pop(e.template_id, None)
