"""JWT access tokens: HS256 pinned, expiry required, one named key. Pure functions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import jwt

from services.auth.domain.errors import InvalidTokenError

ALGORITHM = "HS256"
ISSUER = "switchboard-auth"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss"]


@dataclass(frozen=True)
class SigningKey:
    secret: str
    ttl_seconds: int
    kid: str = "k1"


@dataclass(frozen=True)
class Claims:
    user_id: int
    username: str
    is_admin: bool
    issued_at: int
    expires_at: int


def issue_token(key: SigningKey, user_id: int, username: str, is_admin: bool,
                now: float) -> tuple[str, Claims]:
    issued = int(now)
    claims = Claims(user_id, username, is_admin, issued, issued + key.ttl_seconds)
    payload = {"sub": str(user_id), "username": username, "adm": is_admin, "iss": ISSUER,
               "iat": claims.issued_at, "exp": claims.expires_at, "jti": uuid.uuid4().hex}
    token = jwt.encode(payload, key.secret, algorithm=ALGORITHM, headers={"kid": key.kid})
    return token, claims


def read_token(key: SigningKey, token: str) -> Claims:
    """The claims of a token this service signed and that has not expired."""
    try:
        if jwt.get_unverified_header(token).get("kid") != key.kid:
            raise InvalidTokenError()
        payload = jwt.decode(token, key.secret, algorithms=[ALGORITHM], issuer=ISSUER,
                             options={"require": REQUIRED_CLAIMS})
        return Claims(int(payload["sub"]), str(payload.get("username", "")),
                      bool(payload.get("adm", False)), int(payload["iat"]),
                      int(payload["exp"]))
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidTokenError() from exc
