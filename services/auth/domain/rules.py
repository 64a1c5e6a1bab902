"""What a valid username, password, email, notification number and instance look like."""

from __future__ import annotations

import re
import string
from functools import cache
from importlib import resources

from services.auth.domain.errors import InvalidInstanceError, InvalidRegistrationError

USERNAME = re.compile(r"[A-Za-z0-9._-]{3,50}")
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")
NUMBER = re.compile(r"\+?[0-9]{6,15}")
PASSWORD_MIN, PASSWORD_MAX = 10, 128
PASSWORD_MIN_DISTINCT = 5
UNLEET = str.maketrans("@4310$5!7", "aaeiossit")
AFFIXES = string.digits + string.punctuation + string.whitespace


def valid_username(username: str) -> str:
    if not USERNAME.fullmatch(username):
        raise InvalidRegistrationError(
            "Username must be 3-50 characters: letters, digits, '.', '_' or '-'")
    return username


def valid_password(password: str) -> str:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX or not password.strip():
        raise InvalidRegistrationError(
            f"Password must be {PASSWORD_MIN}-{PASSWORD_MAX} characters, not only spaces")
    if is_common_password(password):
        raise InvalidRegistrationError(
            "Password is too common or too simple: choose a longer, less predictable one")
    return password


def is_common_password(password: str) -> bool:
    """In the shipped list (as typed, without digits and symbols around it, or with
    letter-for-digit swaps undone), a repeated chunk, or of very few distinct characters."""
    lowered = password.lower()
    if len(set(lowered)) < PASSWORD_MIN_DISTINCT or _repeats(lowered):
        return True
    forms = {lowered, lowered.strip(AFFIXES), lowered.translate(UNLEET).strip(AFFIXES)}
    return not forms.isdisjoint(common_passwords())


@cache
def common_passwords() -> frozenset[str]:
    text = resources.files(__package__).joinpath("common-passwords.txt").read_text()
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def _repeats(text: str) -> bool:
    """"abcabcabc", "qwertyqwerty": a shorter chunk over and over."""
    return (text + text).find(text, 1) < len(text)


def valid_email(email: str) -> str:
    if email and (len(email) > 254 or not EMAIL.fullmatch(email)):
        raise InvalidRegistrationError("Invalid email address")
    return email


def valid_notification_number(number: str) -> str:
    if number and not NUMBER.fullmatch(number):
        raise InvalidRegistrationError(
            "Invalid notification number: digits only, optional leading +")
    return number


def name_key(username: str) -> str:
    """The case-insensitive identity of a username."""
    return username.lower()


INSTANCE_ID = re.compile(r"[0-9a-f]{6}-[0-9a-f]{6}")
INSTANCE_NAME_MAX = 100


def valid_instance_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > INSTANCE_NAME_MAX or not name.isprintable():
        raise InvalidInstanceError(
            f"instance_name must be 1-{INSTANCE_NAME_MAX} printable characters")
    return name


def is_instance_id(instance_id: str) -> bool:
    return bool(INSTANCE_ID.fullmatch(instance_id))
