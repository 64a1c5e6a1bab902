"""Bearer tokens, one format for everyone: users (issued by auth at login) and services
(each process mints its own), HS256 pinned, signed under a named key (`kid`).

Every service verifies them at its gRPC edge (kernel/guard.py) with the `KeyRing` from
Settings: the current key signs, previous keys still verify until they are removed. A user
token acts for its own user only; which methods it may call is its service's access
table (`access_table` below).
"""

from __future__ import annotations

import importlib
import re
import sys
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from google.protobuf.descriptor import ServiceDescriptor

from kernel.config import Settings
from kernel.errors import ForbiddenError, UnauthorizedError


def _jwt_without_cryptography() -> ModuleType:
    """PyJWT, imported without the `cryptography` package it loads (when installed) for its
    asymmetric algorithms: about 9 MB of every process, and HS256, the only algorithm
    accepted here, needs only the standard library's hmac. If something imported
    `cryptography` already, PyJWT gets it as usual."""
    if "jwt" in sys.modules or "cryptography" in sys.modules:
        return importlib.import_module("jwt")
    sys.modules["cryptography"] = None  # type: ignore[assignment]  # import fails: not there
    try:
        return importlib.import_module("jwt")
    finally:
        del sys.modules["cryptography"]


jwt = _jwt_without_cryptography()

ALGORITHM = "HS256"
ISSUER = "switchboard-auth"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss"]
IAT_SKEW_SECONDS = 30
KID = re.compile(r"[A-Za-z0-9._-]{1,32}")


class InvalidTokenError(UnauthorizedError):
    def __init__(self) -> None:
        super().__init__("Invalid or expired token")


class AccessDeniedError(ForbiddenError):
    def __init__(self, message: str = "This token may not make this call") -> None:
        super().__init__(message)


@dataclass(frozen=True)
class KeyRing:
    kid: str
    secret: str
    previous: Mapping[str, str]

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        return cls(settings.jwt_kid, settings.jwt_secret, dict(settings.jwt_previous_keys))

    def secret_for(self, kid: object) -> str | None:
        if not isinstance(kid, str) or not KID.fullmatch(kid):
            return None
        return self.secret if kid == self.kid else self.previous.get(kid)


@dataclass(frozen=True)
class Caller:
    """Who a verified token speaks for: a user (user_id > 0) or a service."""

    user_id: int
    username: str
    is_admin: bool
    service: str
    issued_at: int
    expires_at: int

    @property
    def is_service(self) -> bool:
        return bool(self.service)


ANONYMOUS = Caller(0, "", False, "", 0, 0)  # a public call made without a token


def _sign(ring: KeyRing, claims: dict[str, object], now: float, ttl: int) -> tuple[str, int]:
    issued = int(now)
    payload = {**claims, "iss": ISSUER, "iat": issued, "exp": issued + ttl,
               "jti": uuid.uuid4().hex}
    return jwt.encode(payload, ring.secret, algorithm=ALGORITHM,
                      headers={"kid": ring.kid}), issued


def issue_user_token(ring: KeyRing, user_id: int, username: str, is_admin: bool, now: float,
                     ttl: int) -> tuple[str, Caller]:
    token, issued = _sign(ring, {"sub": str(user_id), "username": username, "adm": is_admin},
                          now, ttl)
    return token, Caller(user_id, username, is_admin, "", issued, issued + ttl)


def issue_service_token(ring: KeyRing, service: str, now: float, ttl: int) -> tuple[str, Caller]:
    token, issued = _sign(ring, {"sub": f"svc:{service}", "svc": service}, now, ttl)
    return token, Caller(0, "", False, service, issued, issued + ttl)


def read_token(ring: KeyRing, token: str, now: float | None = None) -> Caller:
    """The caller of a token signed by a key of the ring, issued and not yet expired."""
    try:
        secret = ring.secret_for(jwt.get_unverified_header(token).get("kid"))
        if secret is None:
            raise InvalidTokenError()
        payload = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=ISSUER,
                             options={"require": REQUIRED_CLAIMS, "verify_iat": False})
        return _caller(payload, time.time() if now is None else now)
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise InvalidTokenError() from exc


def _caller(payload: dict[str, object], now: float) -> Caller:
    issued, expires = int(str(payload["iat"])), int(str(payload["exp"]))
    if issued > now + IAT_SKEW_SECONDS:
        raise InvalidTokenError()
    service = payload.get("svc")
    if service is not None:
        if not isinstance(service, str) or not service or payload["sub"] != f"svc:{service}":
            raise InvalidTokenError()
        return Caller(0, "", False, service, issued, expires)
    user_id = int(str(payload["sub"]))
    if user_id <= 0:
        raise InvalidTokenError()
    return Caller(user_id, str(payload.get("username", "")), payload.get("adm") is True, "",
                  issued, expires)


class TokenVerifier:
    """`read_token` with a cache of tokens already verified (until they expire)."""

    def __init__(self, ring: KeyRing, size: int = 10_000) -> None:
        self.ring = ring
        self.size = size
        self._seen: OrderedDict[str, Caller] = OrderedDict()

    def verify(self, token: str) -> Caller:
        now = time.time()
        caller = self._seen.get(token)
        if caller is None:
            caller = read_token(self.ring, token, now)
            self._seen[token] = caller
            if len(self._seen) > self.size:
                self._seen.popitem(last=False)
        if caller.expires_at <= now:
            self._seen.pop(token, None)
            raise InvalidTokenError()
        return caller


class ServiceTokens:
    """This process's own service token, minted again before it runs out."""

    def __init__(self, ring: KeyRing, service: str, ttl: int) -> None:
        self.ring, self.service, self.ttl = ring, service, max(ttl, 60)
        self._token, self._renew_at = "", 0.0

    def current(self) -> str:
        now = time.time()
        if now >= self._renew_at:
            self._token, _ = issue_service_token(self.ring, self.service, now, self.ttl)
            self._renew_at = now + self.ttl * 0.8
        return self._token


# Who may call what with a *user* token, when `grpc_user_tokens` lets user tokens in at
# all (service tokens may call everything; kernel/guard.py). Each service declares its
# table next to its servicer (`services/<name>/ports/access.py`, made by `access_table`)
# and hands it to its host. A user token acts for its own user: a `user_id` in the
# request must be the token's, and flags that widen a call to other users' data need an
# admin. Methods missing from the table take a service token; to open one to users, add
# it there.
USER = "user"
ADMIN = "admin"
PUBLIC = "public"
Access = Mapping[str, str]  # full method path -> USER, ADMIN or PUBLIC


def access_table(service: ServiceDescriptor, **levels: str) -> dict[str, str]:
    """The access table of one gRPC service: each method named in `levels` (by its
    short name) and who may call it with a user token. A name the service does not have
    is an error at import, so a typo cannot leave a method closed unnoticed."""
    methods = service.methods_by_name
    unknown = sorted(set(levels) - set(methods))
    if unknown:
        raise ValueError(f"{service.full_name} has no method {', '.join(unknown)}")
    if not set(levels.values()) <= {USER, ADMIN, PUBLIC}:
        raise ValueError(f"unknown access level in {levels}")
    return {f"/{service.full_name}/{name}": level for name, level in levels.items()}


PUBLIC_PREFIXES = ("/grpc.health.", "/grpc.reflection.")
WIDENING_FLAGS = ("as_admin", "all_users")

_caller_var: ContextVar[Caller | None] = ContextVar("switchboard_caller", default=None)


def current_caller() -> Caller | None:
    """The verified caller of the gRPC call in hand (None where auth is off or public);
    a user's admin flag is their standing now (kernel/guard.py), not the token's claim."""
    return _caller_var.get()


def set_caller(caller: Caller | None) -> None:
    _caller_var.set(caller)


def is_public(method: str, access: Access) -> bool:
    return method.startswith(PUBLIC_PREFIXES) or access.get(method) == PUBLIC


def bearer(metadata: Mapping[str, object]) -> str:
    value = metadata.get("authorization", "")
    scheme, _, token = str(value).partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def check_user_call(method: str, caller: Caller, request: Any, access: Access) -> None:
    level = access.get(method)
    if level is None or (level == ADMIN and not caller.is_admin):
        raise AccessDeniedError()
    if level == ADMIN:
        return
    fields = _field_names(request)
    if "user_id" in fields and request.user_id != caller.user_id:
        raise AccessDeniedError("A user token acts for its own user only")
    widened = any(f in fields and getattr(request, f) for f in WIDENING_FLAGS)
    if widened and not caller.is_admin:
        raise AccessDeniedError()


def _field_names(request: object) -> set[str]:
    descriptor = getattr(request, "DESCRIPTOR", None)
    return set(descriptor.fields_by_name) if descriptor is not None else set()
