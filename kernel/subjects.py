"""Names on NATS: a service's stream and subjects, and a user's reply inbox. Apart from
kernel/bus.py so that writing the broker's authorization (the launcher) loads no client."""

from __future__ import annotations


def stream_name(service: str) -> str:
    return f"SB_{service.upper()}"


def subject(service: str, event_type: str = ">") -> str:
    return f"sb.{service}.{event_type}"


def inbox_prefix(user: str) -> str:
    """Where a NATS user's replies arrive: each user may subscribe to its own only."""
    return f"_INBOX_{user}" if user else "_INBOX"
