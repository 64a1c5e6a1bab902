"""The rules a command to billing can break, one family under `BillingError`.

`code` is the API-level error code; the gRPC status for each lives in ports/grpc.py.
"""

from __future__ import annotations

from kernel.errors import DomainError


class BillingError(DomainError):
    code = "INVALID_REQUEST"


class InvalidBillingRequestError(BillingError):
    code = "INVALID_REQUEST"


class InsufficientCreditsError(BillingError):
    code = "INSUFFICIENT_CREDITS"

    def __init__(self, required: int, available: int) -> None:
        super().__init__(
            f"Not enough credits to send message. Required: {required}, Available: {available}",
            required=required, available=available)
        self.required = required
        self.available = available


class MessageIdTakenError(BillingError):
    """A message id already reserved for another user."""

    code = "INVALID_REQUEST"

    def __init__(self, message_id: str) -> None:
        super().__init__("Message id already in use", message_id=message_id)


class ReservationClosedError(BillingError):
    """A message id whose reservation was refunded: reserving it again would send the
    message for free, so a new attempt needs a new id."""

    code = "INVALID_REQUEST"

    def __init__(self, message_id: str) -> None:
        super().__init__("Message id was refunded; reserve with a new id",
                         message_id=message_id)


class LedgerBusyError(BillingError):
    code = "SERVICE_UNAVAILABLE"

    def __init__(self) -> None:
        super().__init__("Credit ledger busy, retry shortly")
