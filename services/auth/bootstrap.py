"""The auth service's one composition root, used by __main__ and by the tests."""

from __future__ import annotations

import logging

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
from services.auth.app.dependencies import AuthDeps, LoginThrottle
from services.auth.app.standing import DirectoryStanding
from services.auth.app.tokens import UserTokens
from services.auth.domain.commands import EnsureAdmin
from services.auth.domain.errors import AdminNotGrantedError, AuthError
from services.auth.ports.access import ACCESS
from services.auth.ports.grpc import SERVICE_NAME, AuthServicer
from services.auth.settings import AuthSettings

log = logging.getLogger(__name__)
USER_CACHE_SIZE = 50_000


def user_tokens(settings: AuthSettings) -> UserTokens:
    return UserTokens(KeyRing.from_settings(settings), settings.jwt_ttl_seconds)


async def login_throttle(infra: Infra[AuthSettings]) -> LoginThrottle:
    settings = infra.settings
    if settings.login_max_failures <= 0:
        return NoThrottle()
    window = settings.login_failure_window_seconds
    kv = await open_bucket(infra.js, settings.login_throttle_bucket, window,
                           settings.stream_replicas)
    return KvLoginThrottle(kv, settings.login_max_failures, window,
                           settings.login_max_failures_per_user)


async def build(infra: Infra[AuthSettings]) -> Parts:
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
        signup_open=settings.signup == "open",
    )
    servicer = AuthServicer(deps)
    await ensure_first_admin(settings, deps)  # before Register is served: nobody takes the name

    async def load_directory() -> None:
        await deps.feed.fresh()

    return Parts(registrars=[servicer.register_on], service_names=[SERVICE_NAME],
                 on_ready=[load_directory],
                 standing=DirectoryStanding(deps),
                 public_payload=codec.public_payload, access=ACCESS)


async def ensure_first_admin(settings: AuthSettings, deps: AuthDeps) -> None:
    """The configured admin, created with the configured password. An account that
    already has the name keeps what it has: it is never promoted here."""
    if not (settings.admin_user and settings.admin_password):
        log.info("no SWITCHBOARD_ADMIN_PASSWORD: no admin ensured at start-up")
        return
    cmd = EnsureAdmin(settings.admin_user, settings.admin_password)
    try:
        user = await handlers.ensure_admin(cmd, deps)
    except AdminNotGrantedError:
        log.error("admin %r not ensured: an account of that name exists and "
                  "SWITCHBOARD_ADMIN_PASSWORD is not its password; it was left as it is "
                  "(neither promoted nor its password changed)", settings.admin_user)
        return
    except AuthError as exc:
        if settings.environment != "local" and exc.code == "INVALID_REQUEST":
            raise  # a weak configured admin password: refuse to start
        log.error("admin %r not ensured: %s", settings.admin_user, exc.message)
        return
    if not user.is_admin:
        log.error("admin %r not ensured: an account that is not an administrator has that "
                  "name; it was not promoted. Choose another SWITCHBOARD_ADMIN_USER, or "
                  "make it admin with `switchboard admin create`", settings.admin_user)
