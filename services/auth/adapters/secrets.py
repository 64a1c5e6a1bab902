"""Key pairs of instances: high-entropy random values; the secret kept only as a keyed hash.

The secret is 256 random bits, shown once. What is stored (and published in events) is
HMAC-SHA256 of it under the deployment's pepper (`SWITCHBOARD_SECRET_PEPPER`), which lives
in configuration, never in the stores: a leaked database alone verifies nothing. A slow
hash is not needed for secrets this long.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

PUBLIC_PREFIX, SECRET_PREFIX = "pk_", "sk_"


@dataclass(frozen=True)
class KeyPair:
    public_key: str
    secret_key: str
    secret_hash: str


class Credentials:
    def __init__(self, pepper: str) -> None:
        self._pepper = pepper.encode()

    def new_instance_id(self) -> str:
        """Two groups of six lowercase hex digits: "3f9a0c-b71e42"."""
        raw = secrets.token_hex(6)
        return f"{raw[:6]}-{raw[6:]}"

    def new_pair(self) -> KeyPair:
        public = PUBLIC_PREFIX + secrets.token_hex(16)
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        return KeyPair(public, secret, self.hash(secret))

    def hash(self, secret: str) -> str:
        return hmac.new(self._pepper, secret.encode(), hashlib.sha256).hexdigest()

    def matches(self, secret_hash: str, secret: str) -> bool:
        return hmac.compare_digest(self.hash(secret), secret_hash)
