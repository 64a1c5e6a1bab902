"""What a valid username, password, email, notification number and instance look like."""

from __future__ import annotations

import re

from services.auth.domain.errors import InvalidInstanceError, InvalidRegistrationError

USERNAME = re.compile(r"[A-Za-z0-9._-]{3,50}")
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")
NUMBER = re.compile(r"\+?[0-9]{6,15}")
PASSWORD_MIN, PASSWORD_MAX = 8, 128


def valid_username(username: str) -> str:
    if not USERNAME.fullmatch(username):
        raise InvalidRegistrationError(
            "Username must be 3-50 characters: letters, digits, '.', '_' or '-'")
    return username


def valid_password(password: str) -> str:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise InvalidRegistrationError(
            f"Password must be {PASSWORD_MIN}-{PASSWORD_MAX} characters")
    return password


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
