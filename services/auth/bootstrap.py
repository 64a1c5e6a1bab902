"""The auth service's one composition root, used by __main__ and by the tests."""

from __future__ import annotations

from kernel.config import Settings
from kernel.host import Infra, Parts
from services.auth.adapters.codec import auth_codec
from services.auth.adapters.passwords import Argon2Passwords
from services.auth.adapters.users import UserDirectory
from services.auth.app import handlers
from services.auth.app.tokens import SigningKey
from services.auth.domain.commands import EnsureAdmin
from services.auth.ports.grpc import SERVICE_NAME, AuthServicer

USER_CACHE_SIZE = 50_000


def signing_key(settings: Settings) -> SigningKey:
    return SigningKey(settings.jwt_secret, settings.jwt_ttl_seconds)


async def build(infra: Infra) -> Parts:
    users = UserDirectory(infra.store, auth_codec(), cache_size=USER_CACHE_SIZE)
    passwords = Argon2Passwords()
    servicer = AuthServicer(users, passwords, signing_key(infra.settings))
    settings = infra.settings

    async def ensure_first_admin() -> None:
        if settings.admin_user:
            cmd = EnsureAdmin(settings.admin_user, settings.admin_password)
            await handlers.ensure_admin(cmd, users, passwords)

    return Parts(registrars=[servicer.register_on], service_names=[SERVICE_NAME],
                 on_ready=[ensure_first_admin])
