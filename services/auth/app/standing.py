"""Auth's own answer to "how does this token's user stand now?" for its gRPC edge
(kernel/guard.py): the directory itself, no RPC to itself."""

from __future__ import annotations

from kernel.standing import NoStandingError, Standing
from services.auth.app.dependencies import AuthDeps
from services.auth.app.handlers import verify_token
from services.auth.domain.commands import VerifyToken
from services.auth.domain.errors import InvalidTokenError


class DirectoryStanding:
    def __init__(self, deps: AuthDeps) -> None:
        self.deps = deps

    async def standing(self, token: str) -> Standing:
        try:
            user, _ = await verify_token(VerifyToken(token), self.deps)
        except InvalidTokenError as exc:
            raise NoStandingError() from exc
        return Standing(user.user_id, user.username, user.is_admin)
