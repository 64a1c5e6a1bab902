"""One settings object for every process, read from SWITCHBOARD_* environment variables."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
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
    nats_url: str = "nats://127.0.0.1:4222"
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

    gateway_port: int = 8080
    auth_addr: str = ""
    billing_addr: str = ""
    messaging_addr: str = ""
    device_addr: str = ""
    grpc_port: int = 0

    # Keys: no default value anywhere. Local use reads or generates them under
    # <var_dir>/secrets/ (kernel/keys.py); elsewhere they must be set and strong.
    jwt_secret: str = ""
    jwt_ttl_seconds: int = 24 * 3600
    # The admin ensured at start-up; no password, no admin (`switchboard up` generates
    # one on first start and keeps it in <var_dir>/secrets/admin-password).
    admin_user: str = "admin"
    admin_password: str = ""
    signup: Literal["open", "closed"] = "open"  # closed: POST /api/auth/register is 403
    signup_credits: int = 0

    # auth and gateway security (docs/configuration.md, docs/api.md "Security").
    # JWT: HS256 pinned; `jwt_secret` signs under `jwt_kid`; `jwt_previous_keys` (kid ->
    # secret, JSON in the environment) still verify until removed. Services accept gRPC
    # calls only with a bearer token when `internal_auth` is on.
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
    secret_pepper: str = ""
    # Fixed windows shared by all gateway replicas through NATS KV; 0 = unlimited.
    rate_limit_window_seconds: int = 60
    rate_limit_auth: int = 10
    rate_limit_messages: int = 100
    rate_limit_bulk: int = 10
    rate_limit_status: int = 1000
    rate_limit_other: int = 300
    rate_limit_bucket: str = "sb_gateway_ratelimit"
    # Sign-in: failures per (username, client address), and a far higher ceiling per
    # username, in one window; X-Forwarded-For only from `trusted_proxies` (CIDRs, comma
    # separated; none by default).
    login_max_failures: int = 5
    login_max_failures_per_user: int = 100
    login_failure_window_seconds: int = 900
    trusted_proxies: str = ""
    login_throttle_bucket: str = "sb_auth_logins"

    @model_validator(mode="after")
    def _keys(self) -> Settings:
        """Local use: loopback only, unset keys from var_dir. Elsewhere: strong keys."""
        if self.environment == "local":
            if not keys.is_loopback(self.host):
                raise ValueError(
                    f"SWITCHBOARD_HOST={self.host} is not a loopback address: the local "
                    "environment (generated keys, simulator) stays on this machine. Set "
                    "SWITCHBOARD_ENVIRONMENT=production and real keys (docs/operations.md)")
            self.jwt_secret = self.jwt_secret or keys.stored_secret(self.var_dir, JWT_KEY)[0]
            self.secret_pepper = self.secret_pepper or \
                keys.stored_secret(self.var_dir, PEPPER)[0]
            return self
        for name, value in (("SWITCHBOARD_JWT_SECRET", self.jwt_secret),
                            ("SWITCHBOARD_SECRET_PEPPER", self.secret_pepper),
                            *(("SWITCHBOARD_JWT_PREVIOUS_KEYS", v)
                              for v in self.jwt_previous_keys.values())):
            if (why := keys.weak_key(value)) is not None:
                raise ValueError(f"{name} must be a real secret in environment "
                                 f"{self.environment!r}: it is {why}. Generate one with "
                                 "`openssl rand -hex 32` (docs/operations.md)")
        if self.admin_password and (why := keys.weak_admin_password(self.admin_password)):
            raise ValueError(f"SWITCHBOARD_ADMIN_PASSWORD is refused: it is {why}")
        return self

    transport: str = "simulator"
    sim_pool: int = 3
    sim_delivery_delay_ms: int = 200
    sim_read_delay_ms: int = 800
    sim_failure_rate: float = 0.0  # sends refused for good
    sim_transient_failure_rate: float = 0.0  # sends refused for now (retried)
    qr_ttl_seconds: int = 60
    pool_owner_user_id: int = 0

    # device transports: whatsmeow and cloud
    # whatsmeow: "" keeps one whatsmeow session file per device under <var_dir>/whatsmeow/;
    # a postgres:// URL keeps every device's session in that database instead.
    whatsmeow_database_url: str = ""
    whatsmeow_connect_wait_seconds: float = 30.0  # for the first QR, or the connection
    whatsmeow_max_sessions: int = 64  # live sessions and pairings: one thread each
    # cloud: Meta's WhatsApp Business Cloud API; device id -> phone number id (JSON).
    cloud_base_url: str = "https://graph.facebook.com"
    cloud_api_version: str = "v21.0"
    cloud_phone_number_ids: dict[str, str] = Field(default_factory=dict)
    cloud_access_token: str = ""
    cloud_app_secret: str = ""  # signs status webhooks (X-Hub-Signature-256)
    cloud_verify_token: str = ""  # the GET handshake's hub.verify_token
    cloud_max_retries: int = 3  # transient errors: retries with backoff, then tried later
    cloud_retry_base_ms: int = 500
    cloud_timeout_seconds: float = 10.0

    # Dispatch: concurrent workers, and per-device pacing so numbers are not banned for
    # bursts (a minimum gap plus jitter between sends, and a per-minute cap; 0 = none).
    dispatch_workers: int = 4
    dispatch_batch: int = 32
    dispatch_min_gap_ms: int = 0
    dispatch_jitter_ms: int = 0
    dispatch_per_minute_cap: int = 0

    # device: QR rotation, reconnects, session leases, hand-back, simulator far side.
    qr_refresh_seconds: int = 20  # each QR after the first of a linking attempt
    device_replica_id: str = ""  # "" = host name + var dir: a restart re-takes its leases
    device_lease_bucket: str = "sb_device_leases"
    device_lease_ttl_seconds: float = 10.0
    device_reconnect_base_ms: int = 500
    device_reconnect_max_ms: int = 30_000
    device_reconnect_attempts: int = 12  # then the device is Failed (restart or re-link)
    dispatch_handback_delay_ms: int = 100
    dispatch_ack_wait_seconds: float = 30.0  # a crashed replica's messages come back after it
    # transient send failures (outage, no answer, connection cut): tries in all, and the
    # backoff between them (base * 2^(n-1), capped); one try's timeout stays < ack wait.
    dispatch_send_attempts: int = 6
    dispatch_retry_base_ms: int = 2_000
    dispatch_retry_max_ms: int = 60_000
    dispatch_send_timeout_seconds: float = 20.0
    # a queued message no device has taken this long after it was queued fails (refunded)
    dispatch_queue_expiry_seconds: float = 86_400.0
    pool_admin_instances: bool = True  # instances of admins join the shared pool
    sim_state_path: str = ""  # "" = <var_dir>/simulator.db; ":memory:" = per process
    sim_send_latency_ms: int = 0

    # billing: the free plan a new instance starts on (type 1-4 Basic..Enterprise, period
    # 1 Monthly / 2 Yearly, messages a month), and how often subscriptions whose quota
    # period ended are rolled over (or expired) when nobody uses them.
    billing_free_plan_type: int = 1
    billing_free_plan_period: int = 1
    billing_free_plan_quota: int = 100
    billing_free_plan_auto_renew: bool = True
    billing_renewal_interval_seconds: float = 30.0

    # messaging webhooks: status-change POSTs, retried with exponential backoff (base
    # doubling up to the cap, plus up to `jitter` of it) until `give_up` seconds old.
    webhook_timeout_seconds: float = 5.0  # the whole POST, connect to answer
    webhook_backoff_base_seconds: float = 1.0
    webhook_backoff_cap_seconds: float = 3600.0
    webhook_backoff_jitter: float = 0.2
    webhook_give_up_seconds: float = 24 * 3600.0
    webhook_poll_seconds: float = 0.5
    # Targets: public addresses only, unless in this comma-separated list of networks
    # (e.g. "10.0.0.0/8,127.0.0.1/32"); empty refuses loopback, private, link-local...
    webhook_allow_private: str = ""
    webhook_max_per_user: int = 10
    # Delivery: POSTs in flight per messaging process, per endpoint and per owner; an
    # endpoint failing this many times in a row is skipped for a doubling cool-down.
    webhook_workers: int = 32
    webhook_endpoint_concurrency: int = 2
    webhook_owner_concurrency: int = 8
    webhook_breaker_failures: int = 5
    webhook_breaker_seconds: float = 30.0
    status_stream_heartbeat_seconds: float = 15.0  # GET /api/messages/stream comments
    status_stream_max_per_user: int = 5  # open streams per user and gateway process
    # template sends: variables a send may carry, and the longest value (gateway and
    # messaging both refuse more with 400 INVALID_REQUEST)
    template_max_variables: int = 50
    template_max_variable_chars: int = 4096
    # a reservation noted by a messaging process that died before queueing its messages
    # is given back this long after it was noted (longer than a send can take elsewhere)
    reservation_note_grace_seconds: float = 60.0
    # POST /api/v1/whatsapp/send waits this long for its message to be handed to WhatsApp
    # and answers "sent"; past it, "queued" (docs/api.md). 0: answer "queued" at once.
    instance_send_wait_seconds: float = 10.0

    relay_batch: int = 256
    max_body_bytes: int = 1_048_576
    max_json_depth: int = 32  # request bodies nested deeper: 400 INVALID_REQUEST
    log_level: str = "INFO"

    # operations: /metrics of each service process (kernel/metrics.py). Unset: the
    # service's default port (9151-9154) when it runs as a process, off for a host built
    # in-process; 0: off. The gateway serves /metrics on its own port.
    metrics_port: int | None = None
    metrics_sample_seconds: float = 15.0
    # gateway: unset, /metrics on the public port; a port, there only (on `host`); 0, off.
    # `api_docs` off: no /docs, /redoc or /openapi.json.
    gateway_metrics_port: int | None = None
    api_docs: bool = True

    extra: dict[str, str] = Field(default_factory=dict)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, value: str) -> str:
        networks_of(value)  # a bad CIDR stops the process at start-up
        return value

    def trusted_networks(self) -> list[IPNetwork]:
        return networks_of(self.trusted_proxies)

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


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks_of(cidrs: str) -> list[IPNetwork]:
    """`10.0.0.0/8, 192.168.1.7` as networks (a bare address is a /32 or /128)."""
    return [ipaddress.ip_network(c.strip(), strict=False) for c in cidrs.split(",")
            if c.strip()]
