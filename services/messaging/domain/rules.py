"""What a recipient number and a message body must be."""

from __future__ import annotations

import functools

import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata
from phonenumbers.phonenumberutil import (
    _MAX_LENGTH_FOR_NSN,
    _MIN_LENGTH_FOR_NSN,
    ValidationResult,
    _extract_country_code,
    _maybe_strip_national_prefix_carrier_code,
    _set_italian_leading_zeros_for_phone_number,
    _test_number_length,
)

from kernel.media import MAX_CAPTION_CHARS
from services.messaging.domain.errors import (
    InvalidMessageBodyError,
    InvalidNumberError,
    InvalidRecipientsError,
)
from services.messaging.domain.events import Media

MAX_BODY_CHARS = 4096
MAX_E164_DIGITS = 15
MAX_BULK_NUMBERS = 200


@functools.lru_cache(maxsize=4096)
def recipient_number(raw: str) -> str:
    """A valid number in international format, as E.164 digits without the '+'. Kept for
    the last numbers seen: a bulk request's numbers are checked as the request's and again
    as each message's, and a parse is most of a bulk message's own cost."""
    text = raw.strip()
    digits = text[1:] if text.startswith("+") else text
    if not (digits.isascii() and digits.isdigit() and len(digits) <= MAX_E164_DIGITS):
        raise InvalidNumberError(raw)
    parsed = international(digits)
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        raise InvalidNumberError(raw)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)[1:]


# what leaves a national prefix on the number, as phonenumbers.parse decides
_PREFIX_STAYS = (ValidationResult.TOO_SHORT, ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
                 ValidationResult.INVALID_LENGTH)


def international(digits: str) -> phonenumbers.PhoneNumber | None:
    """The number "+" + `digits` (ASCII digits) as `phonenumbers.parse` reads it, or None
    where it raises. It takes parse's steps for a number in international format and
    skips those only text needs (extensions, RFC 3966, letters, punctuation, other
    digits): checking a new number took 17.5 µs with parse and takes 9.8 this way, and a
    bulk request checks 200 (a test holds the two readings equal)."""
    if len(digits) <= _MIN_LENGTH_FOR_NSN:  # too short after the '+'
        return None
    country_code, national = _extract_country_code(digits)
    if country_code == 0 or len(national) < _MIN_LENGTH_FOR_NSN:
        return None
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(
        country_code, phonenumbers.region_code_for_country_code(country_code))
    if metadata is not None:
        _, stripped, _ = _maybe_strip_national_prefix_carrier_code(national, metadata)
        if _test_number_length(stripped, metadata) not in _PREFIX_STAYS:
            national = stripped
    if not _MIN_LENGTH_FOR_NSN <= len(national) <= _MAX_LENGTH_FOR_NSN:
        return None
    number = phonenumbers.PhoneNumber(country_code=country_code)
    _set_italian_leading_zeros_for_phone_number(national, number)
    number.national_number = int(national)
    return number


def message_body(text: str) -> str:
    """A body of 1 to 4096 characters that is not only whitespace."""
    if not text.strip():
        raise InvalidMessageBodyError("message is required (1 to 4096 characters)")
    body_length(len(text))
    return text


def media_body(text: str, media: Media | None) -> str:
    """A text's body (`message_body`), or a media message's caption: empty, or at most
    MAX_CAPTION_CHARS (WhatsApp's limit for captions); none for audio, which WhatsApp
    shows without one."""
    if media is None:
        return message_body(text)
    if text and media.kind == "audio":
        raise InvalidMessageBodyError("audio messages have no caption on WhatsApp: send "
                                      "the text as a message of its own")
    if len(text) > MAX_CAPTION_CHARS:
        raise InvalidMessageBodyError(
            f"caption is too long: {len(text)} characters, at most {MAX_CAPTION_CHARS}",
            length=len(text), max_length=MAX_CAPTION_CHARS)
    return text


def body_length(length: int) -> None:
    """Refuse a body of `length` characters when it is over the limit (a rendered
    template's length is known before it is built)."""
    if length > MAX_BODY_CHARS:
        raise InvalidMessageBodyError(
            f"message is too long: {length} characters, at most {MAX_BODY_CHARS}",
            length=length, max_length=MAX_BODY_CHARS)


def number_filter(raw: str) -> str:
    """A number as typed into a history filter, in the form the view stores it."""
    text = raw.strip()
    return text[1:] if text.startswith("+") else text


def bulk_recipients(raw: list[str]) -> list[str]:
    """1 to 200 valid numbers, normalised, each once, in the order first given."""
    if not raw:
        raise InvalidRecipientsError("numbers is required (1 to 200 phone numbers)")
    if len(raw) > MAX_BULK_NUMBERS:
        raise InvalidRecipientsError(
            f"Too many numbers: {len(raw)}, at most {MAX_BULK_NUMBERS} per request",
            count=len(raw), max_count=MAX_BULK_NUMBERS)
    return list(dict.fromkeys(recipient_number(number) for number in raw))
