"""One settings object for every process, read from SWITCHBOARD_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("auth", "billing", "messaging", "device")
DEFAULT_PORTS = {"auth": 50151, "billing": 50152, "messaging": 50153, "device": 50154}
PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret"}
LOCAL_JWT_SECRET = "local-development-only-jwt-secret-not-for-production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_", extra="ignore")

    environment: str = "local"
    var_dir: Path = Path("var")
    host: str = "127.0.0.1"

    # Stores: SQLite files under var_dir unless a PostgreSQL URL is given. With one
    # PostgreSQL database, each service keeps its tables in a schema of its own.
    database_url: str = ""
    nats_url: str = "nats://127.0.0.1:4222"
    nats_port: int = 4222
    stream_replicas: int = 1

    gateway_port: int = 8080
    auth_addr: str = ""
    billing_addr: str = ""
    messaging_addr: str = ""
    device_addr: str = ""
    grpc_port: int = 0

    jwt_secret: str = LOCAL_JWT_SECRET
    jwt_ttl_seconds: int = 24 * 3600
    admin_user: str = "admin"
    admin_password: str = "switchboard-admin"
    signup_credits: int = 0

    transport: str = "simulator"
    sim_pool: int = 3
    sim_delivery_delay_ms: int = 200
    sim_read_delay_ms: int = 800
    sim_failure_rate: float = 0.0
    qr_ttl_seconds: int = 60
    pool_owner_user_id: int = 0

    # Dispatch: concurrent workers, and per-device pacing so numbers are not banned for
    # bursts (a minimum gap plus jitter between sends, and a per-minute cap; 0 = none).
    dispatch_workers: int = 4
    dispatch_batch: int = 32
    dispatch_min_gap_ms: int = 0
    dispatch_jitter_ms: int = 0
    dispatch_per_minute_cap: int = 0

    relay_batch: int = 256
    max_body_bytes: int = 1_048_576
    log_level: str = "INFO"

    extra: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.environment != "local" and (
            self.jwt_secret in PLACEHOLDER_SECRETS or self.jwt_secret == LOCAL_JWT_SECRET
        ):
            raise ValueError("SWITCHBOARD_JWT_SECRET must be a real secret outside local use")
        return self

    def service_addr(self, service: str) -> str:
        addr = getattr(self, f"{service}_addr")
        return addr or f"{self.host}:{DEFAULT_PORTS[service]}"

    def service_port(self, service: str) -> int:
        return self.grpc_port or int(self.service_addr(service).rsplit(":", 1)[1])

    def database_url_for(self, service: str) -> str:
        if self.database_url:
            return self.database_url
        self.var_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{(self.var_dir / f'{service}.db').resolve()}"
