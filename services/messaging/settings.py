"""The messaging service's settings: the kernel's, plus webhooks, template limits and the
reservation journal's grace."""

from __future__ import annotations

from kernel.config import Settings


class MessagingSettings(Settings):
    # webhooks: status-change POSTs, retried with exponential backoff (base doubling up to
    # the cap, plus up to `jitter` of it) until `give_up` seconds old.
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
    # template sends: variables a send may carry, and the longest value (the gateway
    # refuses more too, gateway/settings.py)
    template_max_variables: int = 50
    template_max_variable_chars: int = 4096
    # a reservation noted by a messaging process that died before queueing its messages
    # is given back this long after it was noted (longer than a send can take elsewhere)
    reservation_note_grace_seconds: float = 60.0
    # POST /api/v1/whatsapp/send waits this long for its message to be handed to WhatsApp
    # and answers "sent"; past it, "queued" (docs/api.md). 0: answer "queued" at once.
    instance_send_wait_seconds: float = 10.0
    # send-media by URL: the whole fetch's time limit, and the networks (as
    # webhook_allow_private) a media URL may point into besides public addresses
    media_fetch_timeout_seconds: float = 30.0
    media_url_allow_private: str = ""
