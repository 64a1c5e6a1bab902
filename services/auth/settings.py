"""The auth service's settings: the kernel's, plus its tokens, first admin, sign-up, pepper
and sign-in throttle (SWITCHBOARD_* environment variables, docs/configuration.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from kernel import keys
from kernel.config import PEPPER, Settings, strong_keys


class AuthSettings(Settings):
    jwt_ttl_seconds: int = 24 * 3600
    # The admin ensured at start-up; no password, no admin (`switchboard up` generates
    # one on first start and keeps it in <var_dir>/secrets/admin-password).
    admin_user: str = "admin"
    admin_password: str = ""
    signup: Literal["open", "closed"] = "open"  # closed: POST /api/auth/register is 403
    # HMAC key of instance secret hashes: like the JWT key, from var_dir in local use.
    secret_pepper: str = ""
    # Sign-in: failures per (username, client address), and a far higher ceiling per
    # username, in one window.
    login_max_failures: int = 5
    login_max_failures_per_user: int = 100
    login_failure_window_seconds: int = 900
    login_throttle_bucket: str = "sb_auth_logins"

    @model_validator(mode="after")
    def _auth_keys(self) -> AuthSettings:
        """Local use: an unset pepper from var_dir. Elsewhere: a strong pepper, and no
        known or short admin password."""
        if self.environment == "local":
            self.secret_pepper = self.secret_pepper or \
                keys.stored_secret(self.var_dir, PEPPER)[0]
            return self
        strong_keys(self.environment, ("SWITCHBOARD_SECRET_PEPPER", self.secret_pepper))
        if self.admin_password and (why := keys.weak_admin_password(self.admin_password)):
            raise ValueError(f"SWITCHBOARD_ADMIN_PASSWORD is refused: it is {why}")
        return self
