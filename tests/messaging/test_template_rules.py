"""The Template aggregate and `{{variable}}` rendering (domain only, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.messaging.domain.errors import (
    InvalidMessageBodyError,
    MissingVariableError,
    TemplateNotFoundError,
)
from services.messaging.domain.templates import TemplateBook

NOW = datetime(2026, 1, 2, tzinfo=UTC)


def book_with(body: str) -> TemplateBook:
    book = TemplateBook("7")
    book.create(1, "t", body, NOW)
    return book


def test_render_fills_every_placeholder_and_ignores_extras() -> None:
    found = book_with("Hi {{name}} from {{ company }}, {{name}}").get(1)
    assert found.variables == ["name", "company"]
    assert found.render({"name": "Ann", "company": "ACME", "extra": "x"}) == (
        "Hi Ann from ACME, Ann")


def test_a_missing_variable_is_named() -> None:
    with pytest.raises(MissingVariableError) as caught:
        book_with("{{a}} {{b}} {{c}}").get(1).render({"b": "x"})
    assert "a, c" in caught.value.message


def test_a_rendering_longer_than_4096_is_refused() -> None:
    with pytest.raises(InvalidMessageBodyError):
        book_with("{{x}}").get(1).render({"x": "y" * 4097})


def test_deleted_and_unknown_templates_are_not_found() -> None:
    book = book_with("x")
    book.delete(1, NOW)
    for action in (lambda: book.get(1), lambda: book.update(1, "n", "b", NOW),
                   lambda: book.delete(2, NOW)):
        with pytest.raises(TemplateNotFoundError):
            action()
    assert [type(e).__name__ for e in book.pending] == ["TemplateCreated", "TemplateDeleted"]
