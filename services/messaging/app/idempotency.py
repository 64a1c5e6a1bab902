"""The Idempotency-Key handlers, each `handle(cmd, deps)`: the gateway claims a key
before it runs a request, saves the answer after, and releases the key when the request
failed in a way a retry may fix (gateway/idempotency.py)."""

from __future__ import annotations

from dataclasses import dataclass

from services.messaging.app.dependencies import MessagingDeps
from services.messaging.domain.errors import InvalidMessageBodyError
from services.messaging.domain.idempotency import KeyRecord, Outcome

MAX_KEY_CHARS = 255


@dataclass(frozen=True)
class KeyRef:
    """A key as one caller (`scope`) used it, for one request (`fingerprint`)."""

    scope: str
    key: str
    fingerprint: str


@dataclass(frozen=True)
class ClaimKey:
    ref: KeyRef


@dataclass(frozen=True)
class SaveResponse:
    ref: KeyRef
    status_code: int
    body: bytes


@dataclass(frozen=True)
class ReleaseKey:
    ref: KeyRef


@dataclass(frozen=True)
class Claim:
    outcome: Outcome
    replay: KeyRecord | None  # the saved answer, when the outcome is REPLAY


def _checked(ref: KeyRef) -> KeyRef:
    if not ref.key or len(ref.key) > MAX_KEY_CHARS or not ref.scope or not ref.fingerprint:
        raise InvalidMessageBodyError(
            f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} characters")
    return ref


async def claim_key(cmd: ClaimKey, deps: MessagingDeps) -> Claim:
    ref = _checked(cmd.ref)
    outcome, record = await deps.idempotency.claim(ref.scope, ref.key, ref.fingerprint,
                                                   deps.clock())
    return Claim(outcome, record if outcome is Outcome.REPLAY else None)


async def save_response(cmd: SaveResponse, deps: MessagingDeps) -> None:
    ref = _checked(cmd.ref)
    await deps.idempotency.save(ref.scope, ref.key, ref.fingerprint, cmd.status_code,
                                cmd.body)


async def release_key(cmd: ReleaseKey, deps: MessagingDeps) -> None:
    ref = _checked(cmd.ref)
    await deps.idempotency.release(ref.scope, ref.key, ref.fingerprint)
