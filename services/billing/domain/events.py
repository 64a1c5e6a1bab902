"""What happened to credits, in the past tense. Field names match
proto/switchboard/billing/v1/events.proto."""

from __future__ import annotations

from dataclasses import dataclass

# Stream "ledger-<user_id>".


@dataclass(frozen=True)
class CreditsGranted:
    user_id: int
    amount: int
    reason: str
    granted_by: int


@dataclass(frozen=True)
class SignupCreditsGranted:
    user_id: int
    amount: int


@dataclass(frozen=True)
class CreditsReserved:
    user_id: int
    message_ids: tuple[str, ...]
    amount: int


@dataclass(frozen=True)
class CreditsSpent:
    user_id: int
    message_ids: tuple[str, ...]
    amount: int


@dataclass(frozen=True)
class CreditsReleased:
    user_id: int
    message_ids: tuple[str, ...]
    amount: int
    reason: str
    spent: int = 0  # of `amount`, committed before (the far side failed them after sending)

