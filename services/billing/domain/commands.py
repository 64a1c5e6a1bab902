"""What callers (and the device events billing consumes) ask billing to do."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GrantCredits:
    user_id: int
    amount: int
    reason: str = ""
    granted_by: int = 0


@dataclass(frozen=True)
class GrantSignupCredits:
    user_id: int
    amount: int


@dataclass(frozen=True)
class ReserveCredits:
    user_id: int
    message_ids: tuple[str, ...]


@dataclass(frozen=True)
class ReleaseCredits:
    """Refund reservations whose messages never got queued (a compensation)."""

    user_id: int
    message_ids: tuple[str, ...]
    reason: str = "released"


@dataclass(frozen=True)
class CommitReservations:
    """Messages were sent: their reserved credits are spent."""

    user_id: int
    message_ids: tuple[str, ...]


@dataclass(frozen=True)
class RefundReservations:
    """Messages failed: their reserved credits go back."""

    user_id: int
    message_ids: tuple[str, ...]
    reason: str = "message failed"
