"""The device service's settings: the kernel's, plus its transport (simulator, whatsmeow,
cloud), dispatch, pacing, retries, QR codes, session leases and reconnects."""

from __future__ import annotations

from pydantic import Field

from kernel.config import Settings


class DeviceSettings(Settings):
    transport: str = "simulator"  # the gateway reads it too (gateway/settings.py)
    sim_pool: int = 3
    sim_delivery_delay_ms: int = 200
    sim_read_delay_ms: int = 800
    sim_failure_rate: float = 0.0  # sends refused for good
    sim_transient_failure_rate: float = 0.0  # sends refused for now (retried)
    sim_state_path: str = ""  # "" = <var_dir>/simulator.db; ":memory:" = per process
    sim_send_latency_ms: int = 0
    qr_ttl_seconds: int = 60
    qr_refresh_seconds: int = 20  # each QR after the first of a linking attempt
    pool_owner_user_id: int = 0
    pool_admin_instances: bool = True  # instances of admins join the shared pool
    # inbound on a pool device goes to whoever last sent to its sender through that
    # device within this many seconds (WhatsApp's 24 h conversation), else the pool owner
    inbound_affinity_seconds: float = 86_400.0
    number_check_ttl_seconds: float = 86_400.0  # "is it on WhatsApp" answers kept; 0 = none
    number_check_per_hour: int = 300  # numbers asked of WhatsApp per replica and hour

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

    # sessions: leases among replicas, reconnects after a network loss
    device_replica_id: str = ""  # "" = host name + var dir: a restart re-takes its leases
    device_lease_bucket: str = "sb_device_leases"
    device_lease_ttl_seconds: float = 10.0
    device_reconnect_base_ms: int = 500
    device_reconnect_max_ms: int = 30_000
    device_reconnect_attempts: int = 12  # then the device is Failed (restart or re-link)
