"""The Idempotency-Key rpcs of MessagingService, mixed into its servicer."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc

from services.messaging.app.dependencies import MessagingDeps
from services.messaging.domain.errors import InvalidMessageBodyError
from services.messaging.domain.idempotency import Outcome
from switchboard.messaging.v1 import messaging_pb2 as pb

MAX_KEY_CHARS = 255


def _checked(ref: pb.IdempotencyKeyRef) -> pb.IdempotencyKeyRef:
    if not ref.key or len(ref.key) > MAX_KEY_CHARS or not ref.scope or not ref.fingerprint:
        raise InvalidMessageBodyError(
            f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} characters")
    return ref


class IdempotencyRpcs:
    deps: MessagingDeps

    async def ClaimIdempotencyKey(self, request: pb.ClaimIdempotencyKeyRequest,
                                  context: grpc.aio.ServicerContext) -> pb.IdempotencyClaim:
        ref = _checked(request.ref)
        outcome, record = await self.deps.idempotency.claim(
            ref.scope, ref.key, ref.fingerprint, datetime.now(UTC))
        reply = pb.IdempotencyClaim(
            outcome=pb.IdempotencyClaim.Outcome.Value(f"OUTCOME_{outcome.name}"))
        if outcome is Outcome.REPLAY and record is not None:
            reply.status_code, reply.body = record.status_code, record.body
        return reply

    async def SaveIdempotentResponse(self, request: pb.SaveIdempotentResponseRequest,
                                     context: grpc.aio.ServicerContext
                                     ) -> pb.IdempotencyDone:
        ref = _checked(request.ref)
        await self.deps.idempotency.save(ref.scope, ref.key, ref.fingerprint,
                                               request.status_code, request.body)
        return pb.IdempotencyDone()

    async def ReleaseIdempotencyKey(self, request: pb.IdempotencyKeyRef,
                                    context: grpc.aio.ServicerContext) -> pb.IdempotencyDone:
        ref = _checked(request)
        await self.deps.idempotency.release(ref.scope, ref.key, ref.fingerprint)
        return pb.IdempotencyDone()
