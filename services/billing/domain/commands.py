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
    """Messages failed: their credits go back, reserved or already spent (the far side
    may fail a message after taking it)."""

    user_id: int
    message_ids: tuple[str, ...]
    reason: str = "message failed"


@dataclass(frozen=True)
class StartSubscription:
    """An instance appeared (auth's InstanceCreated): its free plan starts."""

    instance_id: str
    user_id: int


@dataclass(frozen=True)
class CancelSubscription:
    """An instance was deleted (auth's InstanceDeleted): its subscription ends."""

    instance_id: str
    reason: str = "instance deleted"


@dataclass(frozen=True)
class ReserveQuota:
    instance_id: str
    message_ids: tuple[str, ...]
    user_id: int = 0


@dataclass(frozen=True)
class ReleaseQuota:
    """Give back quota reserved for messages that never got queued (a compensation)."""

    instance_id: str
    message_ids: tuple[str, ...]
    reason: str = "released"


@dataclass(frozen=True)
class CommitQuota:
    instance_id: str
    message_ids: tuple[str, ...]


@dataclass(frozen=True)
class RefundQuota:
    instance_id: str
    message_ids: tuple[str, ...]
    reason: str = "message failed"


@dataclass(frozen=True)
class RenewSubscription:
    instance_id: str
    subscription_type: int
    period: int
    monthly_quota: int
    amount: float
    auto_renew: bool
    user_id: int = 0


@dataclass(frozen=True)
class RollOver:
    """Bring a subscription up to now (next period, auto-renewal or expiry)."""

    instance_id: str


@dataclass(frozen=True)
class RollOverDue:
    """The renewal worker's pass: roll over every subscription whose period has ended,
    `page` at a time."""

    page: int = 200


@dataclass(frozen=True)
class SettleMessages:
    """Device outcomes: message id -> MessageSent or MessageFailed."""

    outcomes: dict[str, str]


# Queries


@dataclass(frozen=True)
class GetBalance:
    user_id: int


@dataclass(frozen=True)
class GetQuota:
    instance_id: str
    user_id: int = 0


@dataclass(frozen=True)
class GetUsage:
    """Either an instance's quota periods or a user's months, never both."""

    instance_id: str = ""
    user_id: int = 0
