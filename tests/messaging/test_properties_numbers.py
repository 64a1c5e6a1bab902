"""Properties of recipient numbers (services/messaging/domain/rules.py), the validation and
normalisation every send and bulk send runs: valid numbers of every region normalise to
their E.164 digits however they are written, normalising is idempotent, anything else is
refused with InvalidNumberError and nothing else, and a bulk list keeps each recipient
once, in the order of first mention. The number is read by `rules.international`, which
must read "+" and digits exactly as `phonenumbers.parse` does."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.messaging.domain import rules
from services.messaging.domain.errors import InvalidNumberError, InvalidRecipientsError

CI = settings(max_examples=200, deadline=None, derandomize=True)


def _examples() -> list[str]:
    """E.164 digits of phonenumbers' example mobile (or fixed-line) number per region."""
    found = set()
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        number = (phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
                  or phonenumbers.example_number(region))
        if number is not None and phonenumbers.is_valid_number(number):
            found.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return sorted(n[1:] for n in found)


VALID = _examples()
valid_numbers = st.sampled_from(VALID)
blanks = st.text(alphabet=" \t\n", max_size=3)


@st.composite
def written(draw: st.DrawFn, digits: str) -> str:
    """`digits` as someone may type them: with or without '+', padded with whitespace."""
    plus = draw(st.sampled_from(["", "+"]))
    return draw(blanks) + plus + digits + draw(blanks)


def test_the_examples_cover_the_world() -> None:
    assert len(VALID) > 200


@CI
@given(data=st.data(), digits=valid_numbers)
def test_a_valid_number_normalises_to_its_digits_however_written(data: st.DataObject,
                                                                  digits: str) -> None:
    raw = data.draw(written(digits))
    normal = rules.recipient_number(raw)
    assert normal == digits
    assert normal.isascii() and normal.isdigit() and len(normal) <= rules.MAX_E164_DIGITS
    assert normal[0] != "0"


@CI
@given(digits=valid_numbers)
def test_normalising_is_idempotent_and_agrees_with_the_history_filter(digits: str) -> None:
    once = rules.recipient_number("+" + digits)
    assert rules.recipient_number(once) == once
    assert rules.number_filter("+" + once) == rules.number_filter(once) == once


@CI
@given(raw=st.text(max_size=40))
@example("")
@example("+")
@example("++27821234567")
@example("27 82 123 4567")
@example("٢٧٨٢١٢٣٤٥٦٧")  # Arabic-Indic digits: digits, but not ASCII ones
@example("2" * 16)
@example("0027821234567")
def test_any_text_is_a_valid_number_or_refused_with_invalid_number(raw: str) -> None:
    try:
        normal = rules.recipient_number(raw)
    except InvalidNumberError as exc:
        assert exc.code == "INVALID_REQUEST"
        assert exc.details["number"] == raw[:40]
        return
    assert normal.isascii() and normal.isdigit()
    assert phonenumbers.is_valid_number(phonenumbers.parse("+" + normal))


def _parsed(digits: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return None


def _near_the_examples() -> list[str]:
    """Digits around each calling code's example numbers of every type: as they are, with
    the region's national prefix or a zero written after the calling code, cut short and
    made longer, and every length of zeros after the calling code; the places where
    parse's national-prefix and length rules decide."""
    near = set()
    for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items():
        cc = str(code)
        for region in regions:
            metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(code, region)
            assert metadata is not None
            prefixes = {"", "0", metadata.national_prefix or "",
                        metadata.national_prefix_for_parsing or ""}
            for kind in phonenumbers.PhoneNumberType.values():
                example = phonenumbers.example_number_for_type(
                    None if region == "001" else region, kind)
                if example is None or example.country_code != code:
                    continue
                nsn = phonenumbers.national_significant_number(example)
                for prefix in prefixes:
                    if prefix.isdigit():
                        for n in range(len(nsn) - 3, len(nsn) + 3):
                            near.add(cc + prefix + (nsn + "1234")[:n])
        near.update(cc + "0" * n for n in range(15))
    return sorted(d for d in near if 0 < len(d) <= rules.MAX_E164_DIGITS)


def test_international_reads_numbers_near_every_example_as_parse_does() -> None:
    near = _near_the_examples()
    assert len(near) > 5_000
    for digits in near:
        assert rules.international(digits) == _parsed(digits), digits
    assert sum(_parsed(digits) is None for digits in near) > 100  # refusals were tried


@settings(max_examples=3000, deadline=None, derandomize=True)
@given(digits=st.text(alphabet="0123456789", min_size=1, max_size=rules.MAX_E164_DIGITS))
def test_international_reads_any_digits_as_parse_does(digits: str) -> None:
    assert rules.international(digits) == _parsed(digits)


@CI
@given(digits=valid_numbers, junk=st.sampled_from("-()./x#*a "), at=st.integers(1, 8))
def test_a_valid_number_with_a_stray_character_inside_is_refused(digits: str, junk: str,
                                                                  at: int) -> None:
    at = min(at, len(digits) - 1)
    with pytest.raises(InvalidNumberError):
        rules.recipient_number(digits[:at] + junk + digits[at:])


@CI
@given(data=st.data(), picks=st.lists(valid_numbers, min_size=1, max_size=rules.MAX_BULK_NUMBERS))
def test_bulk_recipients_are_each_kept_once_in_order_of_first_mention(data: st.DataObject,
                                                                      picks: list[str]) -> None:
    raw = [data.draw(written(digits)) for digits in picks]
    assert rules.bulk_recipients(raw) == list(dict.fromkeys(picks))


@CI
@given(picks=st.lists(valid_numbers, min_size=1, max_size=20), bad=st.text(max_size=10),
       at=st.integers(0, 20))
def test_one_bad_number_refuses_the_whole_bulk(picks: list[str], bad: str, at: int) -> None:
    raw = [*picks[:at], f"x{bad}", *picks[at:]]
    with pytest.raises(InvalidNumberError):
        rules.bulk_recipients(raw)


@CI
@given(count=st.one_of(st.just(0), st.integers(rules.MAX_BULK_NUMBERS + 1, 1000)))
def test_a_bulk_of_none_or_over_200_numbers_is_refused(count: int) -> None:
    with pytest.raises(InvalidRecipientsError):
        rules.bulk_recipients([VALID[0]] * count)
