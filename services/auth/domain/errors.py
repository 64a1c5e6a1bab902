"""The rules a command to the auth service can break, one family under `AuthError`.

`code` is the API-level error code; the gRPC status for each lives in ports/grpc.py.
"""

from __future__ import annotations

from kernel.errors import DomainError


class AuthError(DomainError):
    code = "INVALID_REQUEST"


class InvalidRegistrationError(AuthError):
    code = "INVALID_REQUEST"


class UsernameTakenError(AuthError):
    code = "INVALID_REQUEST"

    def __init__(self) -> None:
        super().__init__("Username already exists")


class InvalidCredentialsError(AuthError):
    code = "UNAUTHORIZED"

    def __init__(self) -> None:
        super().__init__("Invalid username or password")


class InvalidTokenError(AuthError):
    code = "UNAUTHORIZED"

    def __init__(self) -> None:
        super().__init__("Invalid or expired token")


class UserNotFoundError(AuthError):
    code = "NOT_FOUND"

    def __init__(self) -> None:
        super().__init__("User not found")


class DirectoryBusyError(AuthError):
    code = "SERVICE_UNAVAILABLE"

    def __init__(self) -> None:
        super().__init__("User directory busy, retry shortly")
