"""The settings every process reads (SWITCHBOARD_* environment variables): where it runs,
its store and NATS, the services' addresses, the keys every CallGuard verifies with, the
gRPC edge's rate limits, logs and metrics. Each service adds its own in a subclass beside
its bootstrap (services/<name>/settings.py, gateway/settings.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kernel import keys

SERVICES = ("auth", "billing", "messaging", "device")
DEFAULT_PORTS = {"auth": 50151, "billing": 50152, "messaging": 50153, "device": 50154}
JWT_KEY, PEPPER, ADMIN_PASSWORD = "jwt-secret", "secret-pepper", "admin-password"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_", extra="ignore")

    environment: str = "local"
    var_dir: Path = Path("var")
    host: str = "127.0.0.1"

    # Stores: SQLite files under var_dir unless a PostgreSQL URL is given. With one
    # PostgreSQL database, each service keeps its tables in a schema of its own.
    database_url: str = ""
    # NATS: unset, the embedded nats-server's: nats://127.0.0.1:<nats_port>, the address
    # `switchboard up` starts it on, so every command reads the same one.
    nats_url: str = ""
    # This process's NATS user (or put them in the URL: nats://user:password@host:4222);
    # `switchboard up` sets each process's own (docs/operations.md, "NATS").
    nats_user: str = ""
    nats_password: str = ""
    nats_port: int = 4222
    stream_replicas: int = 1
    # PostgreSQL: how long a call may wait to connect, for one statement and for a pooled
    # connection before it fails as unavailable (503) instead of hanging.
    db_connect_timeout_seconds: float = 5.0
    db_command_timeout_seconds: float = 30.0
    db_pool_timeout_seconds: float = 5.0

    auth_addr: str = ""
    billing_addr: str = ""
    messaging_addr: str = ""
    device_addr: str = ""
    grpc_port: int = 0

    # Keys: no default value anywhere. Local use reads or generates them under
    # <var_dir>/secrets/ (kernel/keys.py); elsewhere they must be set and strong.
    # JWT: HS256 pinned; `jwt_secret` signs under `jwt_kid`; `jwt_previous_keys` (kid ->
    # secret, JSON in the environment) still verify until removed. Services accept gRPC
    # calls only with a bearer token when `internal_auth` is on.
    jwt_secret: str = ""
    jwt_kid: str = "k1"
    jwt_previous_keys: dict[str, str] = Field(default_factory=dict)
    service_token_ttl_seconds: int = 3600
    internal_auth: bool = True
    # The gRPC edge (docs/operations.md "The gRPC edge and sign-in"): services take
    # service tokens only unless `grpc_user_tokens` opens the user-facing methods to user
    # tokens; a user token's standing (disabled? admin?) is then asked of auth and kept
    # `user_standing_cache_seconds`.
    grpc_user_tokens: bool = False
    user_standing_cache_seconds: float = 5.0
    # Fixed windows shared by all gateway replicas (and the services' gRPC edge, with user
    # tokens open) through NATS KV; 0 = unlimited.
    rate_limit_window_seconds: int = 60
    rate_limit_auth: int = 10
    rate_limit_messages: int = 100
    rate_limit_bulk: int = 10
    rate_limit_status: int = 1000
    rate_limit_other: int = 300
    rate_limit_bucket: str = "sb_gateway_ratelimit"

    # Media (kernel/media.py), read by every process that sends or receives media:
    # `local` keeps files under `media_dir` ("" = <var_dir>/media); `s3` an S3-compatible
    # bucket (requests signed with SigV4). Media last stored more than
    # `media_retention_days` ago is removed (0 = kept for ever).
    media_store: Literal["local", "s3"] = "local"
    media_dir: str = ""
    media_s3_endpoint: str = ""
    media_s3_bucket: str = ""
    media_s3_region: str = "us-east-1"
    media_s3_access_key: str = ""
    media_s3_secret_key: str = ""
    media_s3_prefix: str = "media/"
    media_retention_days: int = Field(default=30, ge=0)
    # the largest media file a send takes, below WhatsApp's own limit for its kind
    media_max_bytes: int = Field(default=16 * 1024 * 1024, ge=1)

    relay_batch: int = 256
    log_level: str = "INFO"
    # operations: /metrics of each service process (kernel/metrics.py). Unset: the
    # service's default port (9151-9154) when it runs as a process, off for a host built
    # in-process; 0: off. The gateway serves /metrics on its own port.
    metrics_port: int | None = None
    metrics_sample_seconds: float = 15.0

    @model_validator(mode="after")
    def _keys(self) -> Settings:
        """NATS at its port unless a URL is given. Local use: loopback only, unset keys
        from var_dir. Elsewhere: strong keys."""
        self.nats_url = self.nats_url or f"nats://127.0.0.1:{self.nats_port}"
        if self.environment == "local":
            if not keys.is_loopback(self.host):
                raise ValueError(
                    f"SWITCHBOARD_HOST={self.host} is not a loopback address: the local "
                    "environment (generated keys, simulator) stays on this machine. Set "
                    "SWITCHBOARD_ENVIRONMENT=production and real keys (docs/operations.md)")
            self.jwt_secret = self.jwt_secret or keys.stored_secret(self.var_dir, JWT_KEY)[0]
            return self
        strong_keys(self.environment, ("SWITCHBOARD_JWT_SECRET", self.jwt_secret),
                    *(("SWITCHBOARD_JWT_PREVIOUS_KEYS", v)
                      for v in self.jwt_previous_keys.values()))
        return self

    def service_addr(self, service: str) -> str:
        addr = getattr(self, f"{service}_addr")
        return addr or f"{self.host}:{DEFAULT_PORTS[service]}"

    def service_port(self, service: str) -> int:
        return self.grpc_port or int(self.service_addr(service).rsplit(":", 1)[1])

    def database_url_for(self, service: str) -> str:
        if self.database_url:
            return self.database_url
        keys.private_dir(self.var_dir)
        return f"sqlite+aiosqlite:///{(self.var_dir / f'{service}.db').resolve()}"


def strong_keys(environment: str, *named: tuple[str, str]) -> None:
    """Outside local use: each (variable, value) must be a real secret."""
    for name, value in named:
        if (why := keys.weak_key(value)) is not None:
            raise ValueError(f"{name} must be a real secret in environment "
                             f"{environment!r}: it is {why}. Generate one with "
                             "`openssl rand -hex 32` (docs/operations.md)")
