"""The Idempotency-Key rpcs of MessagingService, mixed into its servicer: requests to
commands for app/idempotency.py, results to replies."""

from __future__ import annotations

import grpc

from services.messaging.app import idempotency
from services.messaging.app.dependencies import MessagingDeps
from services.messaging.app.idempotency import ClaimKey, KeyRef, ReleaseKey, SaveResponse
from switchboard.messaging.v1 import messaging_pb2 as pb


def _ref(ref: pb.IdempotencyKeyRef) -> KeyRef:
    return KeyRef(ref.scope, ref.key, ref.fingerprint)


class IdempotencyRpcs:
    deps: MessagingDeps

    async def ClaimIdempotencyKey(self, request: pb.ClaimIdempotencyKeyRequest,
                                  context: grpc.aio.ServicerContext) -> pb.IdempotencyClaim:
        claim = await idempotency.claim_key(ClaimKey(_ref(request.ref)), self.deps)
        reply = pb.IdempotencyClaim(
            outcome=pb.IdempotencyClaim.Outcome.Value(f"OUTCOME_{claim.outcome.name}"))
        if claim.replay is not None:
            reply.status_code, reply.body = claim.replay.status_code, claim.replay.body
        return reply

    async def SaveIdempotentResponse(self, request: pb.SaveIdempotentResponseRequest,
                                     context: grpc.aio.ServicerContext
                                     ) -> pb.IdempotencyDone:
        await idempotency.save_response(SaveResponse(
            _ref(request.ref), request.status_code, request.body), self.deps)
        return pb.IdempotencyDone()

    async def ReleaseIdempotencyKey(self, request: pb.IdempotencyKeyRef,
                                    context: grpc.aio.ServicerContext) -> pb.IdempotencyDone:
        await idempotency.release_key(ReleaseKey(_ref(request)), self.deps)
        return pb.IdempotencyDone()
