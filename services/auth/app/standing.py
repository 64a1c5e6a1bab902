"""Auth's own answer to "how does this token's user stand now?" for its gRPC edge
(kernel/guard.py): the directory itself, no RPC to itself."""

from __future__ import annotations

from kernel.standing import NoStandingError, Standing
from services.auth.adapters.view_feed import ViewFeed
from services.auth.app.handlers import verify_token
from services.auth.app.tokens import UserTokens
from services.auth.domain.errors import InvalidTokenError


class DirectoryStanding:
    def __init__(self, feed: ViewFeed, tokens: UserTokens) -> None:
        self.feed = feed
        self.tokens = tokens

    async def standing(self, token: str) -> Standing:
        try:
            user, _ = await verify_token(token, self.feed, self.tokens)
        except InvalidTokenError as exc:
            raise NoStandingError() from exc
        return Standing(user.user_id, user.username, user.is_admin)
