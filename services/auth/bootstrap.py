"""The auth service's one composition root, used by __main__ and by the tests."""

from __future__ import annotations

from kernel.config import Settings
from kernel.host import Infra, Parts
from kernel.tokens import KeyRing
from services.auth.adapters.codec import auth_codec
from services.auth.adapters.instances import InstanceStore
from services.auth.adapters.passwords import Argon2Passwords
from services.auth.adapters.secrets import Credentials
from services.auth.adapters.throttle import KvLoginThrottle, NoThrottle, open_bucket
from services.auth.adapters.users import UserDirectory
from services.auth.adapters.view_feed import ViewFeed
from services.auth.app import handlers
from services.auth.app.handlers import LoginThrottle
from services.auth.app.tokens import UserTokens
from services.auth.domain.commands import EnsureAdmin
from services.auth.ports.grpc import SERVICE_NAME, AuthDeps, AuthServicer

USER_CACHE_SIZE = 50_000


def user_tokens(settings: Settings) -> UserTokens:
    return UserTokens(KeyRing.from_settings(settings), settings.jwt_ttl_seconds)


async def login_throttle(infra: Infra) -> LoginThrottle:
    settings = infra.settings
    if settings.login_max_failures <= 0:
        return NoThrottle()
    window = settings.login_failure_window_seconds
    kv = await open_bucket(infra.js, settings.login_throttle_bucket, window,
                           settings.stream_replicas)
    return KvLoginThrottle(kv, settings.login_max_failures, window)


async def build(infra: Infra) -> Parts:
    codec = auth_codec()
    settings = infra.settings
    deps = AuthDeps(
        users=UserDirectory(infra.store, codec, cache_size=USER_CACHE_SIZE),
        instances=InstanceStore(infra.store, codec),
        feed=ViewFeed(infra.store, codec),
        passwords=Argon2Passwords(),
        credentials=Credentials(settings.secret_pepper),
        tokens=user_tokens(settings),
        throttle=await login_throttle(infra),
    )
    servicer = AuthServicer(deps)

    async def ensure_first_admin() -> None:
        if settings.admin_user:
            cmd = EnsureAdmin(settings.admin_user, settings.admin_password)
            await handlers.ensure_admin(cmd, deps.users, deps.passwords)

    async def load_directory() -> None:
        await deps.feed.fresh()

    return Parts(registrars=[servicer.register_on], service_names=[SERVICE_NAME],
                 on_ready=[ensure_first_admin, load_directory])
