"""Properties of templates (services/messaging/domain/templates.py): `{{name}}`
placeholders are found in order of first use, each once; rendering with every variable
given fills every placeholder and leaves the text around them as it was; a missing
variable is named; extra variables and braces inside values change nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.messaging.domain.errors import InvalidMessageBodyError, MissingVariableError
from services.messaging.domain.rules import MAX_BODY_CHARS
from services.messaging.domain.templates import PLACEHOLDER, Template

CI = settings(max_examples=200, deadline=None, derandomize=True)
NOW = datetime(2026, 1, 2, tzinfo=UTC)

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,11}", fullmatch=True)
# literal text: anything without braces, so it cannot form or break a placeholder
literals = st.text(st.characters(blacklist_characters="{}", codec="utf-8"), max_size=12)
values = st.text(max_size=12)
spaces = st.text(alphabet=" ", max_size=2)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, list[str], list[str]]:
    """A body alternating literals and placeholders, its literals and its names in order
    of use (names may repeat; braces may hold spaces around the name)."""
    used = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    order = draw(st.lists(st.sampled_from(used), min_size=1, max_size=8))
    texts = draw(st.lists(literals, min_size=len(order) + 1, max_size=len(order) + 1))
    body = texts[0]
    for name, text in zip(order, texts[1:], strict=True):
        body += "{{" + draw(spaces) + name + draw(spaces) + "}}" + text
    return body, texts, order


def template(body: str) -> Template:
    return Template(7, "t", body, NOW, NOW)


@CI
@given(made=bodies())
def test_variables_are_the_placeholders_in_order_of_first_use_each_once(
        made: tuple[str, list[str], list[str]]) -> None:
    body, _, order = made
    assert template(body).variables == list(dict.fromkeys(order))


@CI
@given(made=bodies(), data=st.data())
def test_rendering_with_every_variable_fills_every_placeholder(
        made: tuple[str, list[str], list[str]], data: st.DataObject) -> None:
    body, texts, order = made
    given_values = {name: data.draw(values) for name in order}
    expected = texts[0] + "".join(given_values[n] + t for n, t in zip(order, texts[1:],
                                                                      strict=True))
    if not expected.strip():  # a message of nothing but blanks is refused, as any is
        with pytest.raises(InvalidMessageBodyError):
            template(body).render(given_values)
        return
    assert template(body).render(given_values) == expected


@CI
@given(made=bodies(), data=st.data())
def test_a_missing_variable_is_named_and_nothing_is_rendered(
        made: tuple[str, list[str], list[str]], data: st.DataObject) -> None:
    body, _, order = made
    variables = list(dict.fromkeys(order))
    missing = data.draw(st.lists(st.sampled_from(variables), min_size=1, unique=True))
    given_values = {name: "x" for name in variables if name not in missing}
    with pytest.raises(MissingVariableError) as refused:
        template(body).render(given_values)
    named = refused.value.details["missing"].split(", ")
    assert named == [name for name in variables if name in missing]
    assert refused.value.code == "INVALID_REQUEST"


@CI
@given(made=bodies(), extra=st.dictionaries(names, values, max_size=3))
def test_extra_variables_are_ignored(made: tuple[str, list[str], list[str]],
                                     extra: dict[str, str]) -> None:
    body, _, order = made
    exact = {name: f"<{name}>" for name in order}
    assert template(body).render({**extra, **exact}) == template(body).render(exact)


@CI
@given(made=bodies())
def test_values_are_inserted_as_they_are_never_rendered_again(
        made: tuple[str, list[str], list[str]]) -> None:
    """A value shaped like a placeholder stays literal text (one pass only), and
    rendering that output in turn round trips to rendering the original at once."""
    body, _, order = made
    shaped = {name: "{{" + name + "_inner}}" for name in order}
    once = template(body).render(shaped)
    assert template(once).variables == [f"{name}_inner" for name in dict.fromkeys(order)]
    final = {name: f"<{name}>" for name in order}
    assert template(once).render({f"{n}_inner": v for n, v in final.items()}) == \
        template(body).render(final)


@CI
@given(made=bodies(), filler=st.integers(1, 50))
def test_a_rendered_message_over_4096_characters_is_refused(
        made: tuple[str, list[str], list[str]], filler: int) -> None:
    body, _, order = made
    long_value = "y" * (MAX_BODY_CHARS + filler)
    with pytest.raises(InvalidMessageBodyError):
        template(body).render(dict.fromkeys(order, long_value))


@CI
@given(text=st.text(max_size=40))
def test_text_without_a_well_formed_placeholder_has_no_variables_and_renders_as_is(
        text: str) -> None:
    if PLACEHOLDER.search(text) or not text.strip():
        return
    assert template(text).variables == []
    assert template(text).render({}) == text
