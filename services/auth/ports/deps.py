"""What auth's gRPC edge hands its handlers, built once in bootstrap.py."""

from __future__ import annotations

from dataclasses import dataclass

from services.auth.adapters.instances import InstanceStore
from services.auth.adapters.secrets import Credentials
from services.auth.adapters.users import UserDirectory
from services.auth.adapters.view_feed import ViewFeed
from services.auth.app.handlers import LoginThrottle, Passwords
from services.auth.app.tokens import UserTokens


@dataclass(frozen=True)
class AuthDeps:
    users: UserDirectory
    instances: InstanceStore
    feed: ViewFeed
    passwords: Passwords
    credentials: Credentials
    tokens: UserTokens
    throttle: LoginThrottle
    signup_open: bool = True
