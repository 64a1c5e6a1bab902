"""Users' access tokens, in the one token format of kernel/tokens.py (HS256 pinned, `exp`
and `iat` checked, a `kid` naming the signing key; previous keys verify until removed)."""

from __future__ import annotations

from kernel import tokens
from kernel.tokens import Caller, KeyRing, TokenVerifier
from services.auth.domain.errors import InvalidTokenError


class UserTokens:
    def __init__(self, ring: KeyRing, ttl_seconds: int) -> None:
        self.ring = ring
        self.ttl_seconds = ttl_seconds
        self._verifier = TokenVerifier(ring)

    def issue(self, user_id: int, username: str, is_admin: bool,
              now: float) -> tuple[str, Caller]:
        return tokens.issue_user_token(self.ring, user_id, username, is_admin, now,
                                       self.ttl_seconds)

    def read(self, token: str) -> Caller:
        """The caller of a valid *user* token (service tokens speak for no user)."""
        try:
            caller = self._verifier.verify(token)
        except tokens.InvalidTokenError as exc:
            raise InvalidTokenError() from exc
        if caller.is_service:
            raise InvalidTokenError()
        return caller
