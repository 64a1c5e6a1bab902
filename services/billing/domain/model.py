"""A user's credit ledger, and the account that changes it together with the holds
(reservations) of the message ids it names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from kernel.aggregate import Aggregate
from services.billing.domain.errors import InsufficientCreditsError, InvalidBillingRequestError
from services.billing.domain.events import (
    CreditsGranted,
    CreditsReleased,
    CreditsReserved,
    CreditsSpent,
    SignupCreditsGranted,
)
from services.billing.domain.holds import CREDIT, Holds

CREDITS_PER_MESSAGE = 1


MAX_GRANT = 1_000_000_000
MAX_MESSAGE_IDS = 1000
MAX_MESSAGE_ID_LENGTH = 128


def checked_user_id(user_id: int) -> int:
    if user_id <= 0:
        raise InvalidBillingRequestError("user_id must be a positive integer")
    return user_id


def checked_message_ids(message_ids: Sequence[str]) -> tuple[str, ...]:
    if not 0 < len(message_ids) <= MAX_MESSAGE_IDS:
        raise InvalidBillingRequestError(f"Give 1-{MAX_MESSAGE_IDS} message ids")
    for message_id in message_ids:
        if not message_id.strip() or len(message_id) > MAX_MESSAGE_ID_LENGTH:
            raise InvalidBillingRequestError(
                f"Message ids must be 1-{MAX_MESSAGE_ID_LENGTH} characters")
    return tuple(message_ids)


@dataclass(frozen=True)
class Balance:
    user_id: int
    available: int
    reserved: int


class Ledger(Aggregate):
    """Stream "ledger-<user_id>": only numbers. Available never goes below zero."""

    stream_prefix = "ledger"
    immutable_state = True

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.available = 0
        self.reserved = 0
        self.signup_granted = False

    @property
    def user_id(self) -> int:
        return int(self.id)

    def balance(self) -> Balance:
        return Balance(self.user_id, self.available, self.reserved)

    def grant(self, amount: int, reason: str, granted_by: int) -> None:
        if not 0 < amount <= MAX_GRANT:
            raise InvalidBillingRequestError(
                f"Amount must be a whole number of credits from 1 to {MAX_GRANT}")
        self._record(CreditsGranted(self.user_id, amount, reason, granted_by))

    def grant_signup(self, amount: int) -> None:
        if amount > 0 and not self.signup_granted:
            self._record(SignupCreditsGranted(self.user_id, amount))

    def reserve(self, message_ids: Sequence[str]) -> None:
        required = len(message_ids) * CREDITS_PER_MESSAGE
        if required == 0:
            return
        if self.available < required:
            raise InsufficientCreditsError(required, self.available)
        self._record(CreditsReserved(self.user_id, tuple(message_ids), required))

    def spend(self, message_ids: Sequence[str]) -> None:
        if message_ids:
            amount = len(message_ids) * CREDITS_PER_MESSAGE
            self._record(CreditsSpent(self.user_id, tuple(message_ids), amount))

    def release(self, message_ids: Sequence[str], reason: str, spent: int = 0) -> None:
        """Credits back for these messages; `spent` of them had been committed already."""
        if message_ids:
            amount = len(message_ids) * CREDITS_PER_MESSAGE
            self._record(CreditsReleased(self.user_id, tuple(message_ids), amount, reason,
                                         spent * CREDITS_PER_MESSAGE))

    def when_CreditsGranted(self, event: CreditsGranted) -> None:
        self.available += event.amount

    def when_SignupCreditsGranted(self, event: SignupCreditsGranted) -> None:
        self.available += event.amount
        self.signup_granted = True

    def when_CreditsReserved(self, event: CreditsReserved) -> None:
        self.available -= event.amount
        self.reserved += event.amount

    def when_CreditsSpent(self, event: CreditsSpent) -> None:
        self.reserved -= event.amount

    def when_CreditsReleased(self, event: CreditsReleased) -> None:
        self.reserved -= event.amount - event.spent
        self.available += event.amount


@dataclass(frozen=True)
class Reserved:
    reserved: int
    already_reserved: int
    remaining: int


@dataclass(frozen=True)
class Settled:
    """Reservations committed or refunded by one change, and the credits left after it."""

    count: int
    remaining: int


@dataclass
class Account:
    """One user's ledger with the holds of the message ids a change touches.

    A message id is reserved once, ever: reserving an open or committed one again charges
    nothing; reserving a refunded one, or another user's, is refused.

    Every method checks its rules before it records anything, so a method that raises
    leaves the account as it was.
    """

    ledger: Ledger
    holds: Holds = field(default_factory=lambda: Holds(CREDIT))

    @property
    def owner(self) -> str:
        return self.ledger.stream_id

    def reserve(self, message_ids: Sequence[str]) -> Reserved:
        new, already = self.holds.sort(self.owner, message_ids)
        with self.holds.recording(self.ledger):
            self.ledger.reserve(new)
        return Reserved(len(new), already, self.ledger.available)

    def commit(self, message_ids: Sequence[str]) -> Settled:
        done = self.holds.open_of(self.owner, message_ids)
        with self.holds.recording(self.ledger):
            self.ledger.spend(done)
        return Settled(len(done), self.ledger.available)

    def refund(self, message_ids: Sequence[str], reason: str,
               spent_too: bool = False) -> Settled:
        """Open holds come back; with `spent_too`, committed ones as well (the far side
        failed those messages after taking them). A refunded hold never comes back twice."""
        done = self.holds.open_of(self.owner, message_ids)
        spent = self.holds.committed_of(self.owner, message_ids) if spent_too else []
        with self.holds.recording(self.ledger):
            self.ledger.release(done + spent, reason, len(spent))
        return Settled(len(done) + len(spent), self.ledger.available)

    def changed(self) -> list[Aggregate]:
        return [self.ledger] if self.ledger.pending else []
