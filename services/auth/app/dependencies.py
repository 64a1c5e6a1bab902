"""What auth's handlers need from outside, and `AuthDeps`, the one object that carries
it: built once in bootstrap.py, held by the servicer, and passed to every handler as
`handle(cmd, deps)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.auth.adapters.instances import InstanceStore
from services.auth.adapters.secrets import Credentials
from services.auth.adapters.users import UserDirectory
from services.auth.adapters.view_feed import ViewFeed
from services.auth.app.tokens import UserTokens


class Passwords(Protocol):
    async def hash(self, password: str) -> str: ...
    async def verify(self, password_hash: str, password: str) -> bool: ...
    async def verify_nobody(self, password: str) -> bool: ...


class LoginThrottle(Protocol):
    async def check(self, username: str, address: str) -> None: ...
    async def failed(self, username: str, address: str) -> None: ...
    async def succeeded(self, username: str, address: str) -> None: ...


@dataclass(frozen=True)
class AuthDeps:
    """Everything the auth handlers take."""

    users: UserDirectory
    instances: InstanceStore
    feed: ViewFeed
    passwords: Passwords
    credentials: Credentials
    tokens: UserTokens
    throttle: LoginThrottle
    signup_open: bool = True
