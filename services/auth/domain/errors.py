"""The rules a command to the auth service can break, one family under `AuthError`.

`code` is the API-level error code; the kernel category each error also inherits
(kernel/errors.py) fixes its gRPC status.
"""

from __future__ import annotations

from kernel.errors import (
    ConflictError,
    DomainError,
    FailedPreconditionError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    ThrottledError,
    UnauthorizedError,
    UnavailableError,
)


class AuthError(DomainError):
    """Base of the auth service's named errors."""


class InvalidRegistrationError(AuthError, InvalidRequestError):
    code = "INVALID_REQUEST"


class SignupClosedError(AuthError, ForbiddenError):
    """Registration is closed (`SWITCHBOARD_SIGNUP=closed`): admins create accounts."""

    code = "FORBIDDEN"

    def __init__(self) -> None:
        super().__init__("Registration is closed on this server; ask an administrator")


class AdminNotGrantedError(AuthError, UnauthorizedError):
    """An existing account is made admin only by whoever proves its password."""

    code = "UNAUTHORIZED"

    def __init__(self) -> None:
        super().__init__("That user exists; admin rights need its current password")


class UsernameTakenError(AuthError, ConflictError):
    code = "INVALID_REQUEST"

    def __init__(self) -> None:
        super().__init__("Username already exists")


class InvalidCredentialsError(AuthError, UnauthorizedError):
    code = "UNAUTHORIZED"

    def __init__(self) -> None:
        super().__init__("Invalid username or password")


class InvalidTokenError(AuthError, UnauthorizedError):
    code = "UNAUTHORIZED"

    def __init__(self) -> None:
        super().__init__("Invalid or expired token")


class UserNotFoundError(AuthError, NotFoundError):
    code = "NOT_FOUND"

    def __init__(self) -> None:
        super().__init__("User not found")


class DirectoryBusyError(AuthError, UnavailableError):
    code = "SERVICE_UNAVAILABLE"

    def __init__(self) -> None:
        super().__init__("User directory busy, retry shortly")


class SelfLockoutError(AuthError, FailedPreconditionError):
    code = "INVALID_REQUEST"

    def __init__(self) -> None:
        super().__init__("Administrators cannot remove their own admin rights or disable "
                         "themselves")


class LoginThrottledError(AuthError, ThrottledError):
    """Too many failed sign-ins for one username, whether or not it exists."""

    code = "RATE_LIMITED"

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many failed login attempts; try again later",
                         retry_after=retry_after)
        self.retry_after = retry_after


class InvalidInstanceError(AuthError, InvalidRequestError):
    code = "INVALID_REQUEST"


class InstanceNotFoundError(AuthError, NotFoundError):
    """Unknown, deleted, or another user's: the caller cannot tell which."""

    code = "NOT_FOUND"

    def __init__(self) -> None:
        super().__init__("Instance not found")


class InvalidInstanceCredentialsError(AuthError, UnauthorizedError):
    code = "INVALID_CREDENTIALS"

    def __init__(self) -> None:
        super().__init__("Invalid or revoked API credentials")


class KeyTakenError(AuthError, InvalidRequestError):
    """A generated id or public key collided with an earlier one: generate another."""

    def __init__(self) -> None:
        super().__init__("Generated key already in use")
