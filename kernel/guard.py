"""Who may make a gRPC call: every service's edge (kernel/rpc.py) admits each call here.

- Service tokens may call everything; health and reflection need no token.
- User tokens are refused unless `grpc_user_tokens` opens the user-facing methods (the
  gateway calls services with its own service token and names the user in the request,
  so it needs no user tokens here). When open, a user token is checked against its user's
  standing *now* (kernel/standing.py: enabled within the standing cache, admin afresh on
  every admin call), not against its claims, may call only what its service's access
  table allows (kernel/tokens.py), and is rate-limited per user in the
  gateway's route classes (kernel/ratelimit.py): one budget per user whichever edge.
- Register and Login take a service token, or, when user tokens are open, no token at
  all, limited per peer address in the "auth" class.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping

from nats.js import JetStreamContext

from kernel.config import Settings
from kernel.errors import UnauthorizedError
from kernel.ratelimit import RateLimiter, limiter_for
from kernel.rpc import channel
from kernel.standing import AuthStanding, CachedStanding, StandingSource
from kernel.tokens import (
    ADMIN,
    ANONYMOUS,
    PUBLIC_PREFIXES,
    Access,
    AccessDeniedError,
    Caller,
    InvalidTokenError,
    KeyRing,
    TokenVerifier,
    bearer,
    check_user_call,
    is_public,
    set_caller,
)
from switchboard.auth.v1 import auth_pb2_grpc

USER_TOKENS_OFF = ("User tokens are not accepted on the gRPC API "
                   "(SWITCHBOARD_GRPC_USER_TOKENS); use the REST API")


class CallGuard:
    """Admits a gRPC call (see the module's docstring); raises a DomainError otherwise."""

    def __init__(self, verifier: TokenVerifier, access: Access,
                 standing: CachedStanding | None = None,
                 limiter: RateLimiter | None = None) -> None:
        self.verifier = verifier
        self.access = access  # the service's own table (services/<name>/ports/access.py)
        self.standing = standing  # None: user tokens are refused
        self.limiter = limiter or RateLimiter.unlimited()

    async def admit(self, method: str, metadata: Mapping[str, object], request: object,
                    peer: str = "") -> None:
        set_caller(None)
        token = bearer(metadata)
        if self.is_public(method):
            await self._admit_public(method, token, peer)
            return
        if not token:
            raise UnauthorizedError("Missing bearer token")
        caller = self.verifier.verify(token)
        if not caller.is_service:
            caller = await self._admit_user(method, token, caller, request)
        set_caller(caller)

    def is_public(self, method: str) -> bool:
        return is_public(method, self.access)

    async def _admit_public(self, method: str, token: str, peer: str) -> None:
        if method.startswith(PUBLIC_PREFIXES):
            return
        service = self._service(token)
        if service is not None:
            set_caller(service)
            return
        if self.standing is None:
            raise UnauthorizedError("This call needs a service token")
        await self.limiter.enforce("auth", f"a{peer_host(peer)}")
        set_caller(ANONYMOUS)

    def _service(self, token: str) -> Caller | None:
        try:
            caller = self.verifier.verify(token) if token else None
        except InvalidTokenError:
            return None
        return caller if caller is not None and caller.is_service else None

    async def _admit_user(self, method: str, token: str, caller: Caller,
                          request: object) -> Caller:
        if self.standing is None:
            raise AccessDeniedError(USER_TOKENS_OFF)
        now = await self.standing.standing(token, fresh=self.access.get(method) == ADMIN)
        caller = dataclasses.replace(caller, username=now.username, is_admin=now.is_admin)
        check_user_call(method, caller, request, self.access)
        await self.limiter.enforce(rpc_class(method), f"u{caller.user_id}")
        return caller


def rpc_class(method: str) -> str:
    """A method's rate-limit class, the REST route classes' counterpart: sends, bulk
    sends, reads (status checks) and other writes."""
    name = method.rsplit("/", 1)[-1]
    if name == "SendMessage":
        return "messages"
    if name == "SendBulkMessage":
        return "bulk"
    return "status" if name.startswith(("Get", "List", "Verify")) else "other"


def peer_host(peer: str) -> str:
    """`ipv4:10.0.0.5:5123` or `ipv6:[::1]:5123` as the bare address."""
    address = peer.split(":", 1)[1] if peer.startswith(("ipv4:", "ipv6:")) else peer
    return address.rsplit(":", 1)[0].strip("[]") if ":" in address else address


Closer = Callable[[], Awaitable[None]]


async def edge_guard(settings: Settings, js: JetStreamContext, service: str,
                     access: Access, standing: StandingSource | None = None
                     ) -> tuple[CallGuard | None, list[Closer]]:
    """The guard of a service's gRPC edge (`access`: the service's access table), and
    what to close when it stops. With user tokens open, their standing comes from
    `standing` (auth's own directory) or from the auth service, and they share the
    gateway's rate-limit bucket on NATS (`js`)."""
    if not settings.internal_auth:
        return None, []
    verifier = TokenVerifier(KeyRing.from_settings(settings))
    if not settings.grpc_user_tokens:
        return CallGuard(verifier, access), []
    closers: list[Closer] = []
    if standing is None:
        chan = channel(settings.service_addr("auth"), settings, identity=service)
        standing = AuthStanding(auth_pb2_grpc.AuthServiceStub(chan).VerifyToken)
        closers.append(chan.close)
    cached = CachedStanding(standing, settings.user_standing_cache_seconds)
    return CallGuard(verifier, access, cached, await limiter_for(js, settings)), closers
