"""The rules a command to billing can break, one family under `BillingError`.

`code` is the API-level error code; the kernel category each error also inherits
(kernel/errors.py) fixes its gRPC status.
"""

from __future__ import annotations

from kernel.errors import (
    DomainError,
    FailedPreconditionError,
    InvalidRequestError,
    NotFoundError,
    UnavailableError,
)


class BillingError(DomainError):
    """Base of billing's named errors."""


class InvalidBillingRequestError(BillingError, InvalidRequestError):
    code = "INVALID_REQUEST"


class InsufficientCreditsError(BillingError, FailedPreconditionError):
    code = "INSUFFICIENT_CREDITS"

    def __init__(self, required: int, available: int) -> None:
        super().__init__(
            f"Not enough credits to send message. Required: {required}, Available: {available}",
            required=required, available=available)
        self.required = required
        self.available = available


class MessageIdTakenError(BillingError, InvalidRequestError):
    """A message id already reserved for another user."""

    code = "INVALID_REQUEST"

    def __init__(self, message_id: str) -> None:
        super().__init__("Message id already in use", message_id=message_id)


class ReservationClosedError(BillingError, FailedPreconditionError):
    """A message id whose reservation was refunded: reserving it again would send the
    message for free, so a new attempt needs a new id."""

    code = "INVALID_REQUEST"

    def __init__(self, message_id: str) -> None:
        super().__init__("Message id was refunded; reserve with a new id",
                         message_id=message_id)


class LedgerBusyError(BillingError, UnavailableError):
    code = "SERVICE_UNAVAILABLE"

    def __init__(self) -> None:
        super().__init__("Account busy, retry shortly")


class QuotaExceededError(BillingError, FailedPreconditionError):
    """The Instance API's QUOTA_EXCEEDED: the month's quota is used up, or the
    subscription has expired."""

    code = "QUOTA_EXCEEDED"

    @classmethod
    def used_up(cls, required: int, remaining: int, monthly_quota: int) -> QuotaExceededError:
        return cls(f"Monthly message quota exceeded. Required: {required}, "
                   f"Remaining: {remaining}", required=required, remaining=remaining,
                   monthly_quota=monthly_quota)

    @classmethod
    def expired(cls) -> QuotaExceededError:
        return cls("Subscription expired. Renew the subscription to send messages.",
                   expired="true")


class SubscriptionEndedError(BillingError, NotFoundError):
    """The instance was deleted: its subscription cannot be renewed."""

    code = "NOT_FOUND"

    def __init__(self, instance_id: str) -> None:
        super().__init__("Instance not found", instance_id=instance_id)
