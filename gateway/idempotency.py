"""`Idempotency-Key` on the send endpoints (Stripe's semantics, reference C2).

The first request with a key runs and its answer (status and body, success or refusal)
is kept for 24 h in the messaging service, per user or instance; the same key with the
same request answers that again (header `Idempotent-Replayed: true`) without running it;
with another request it is 409 CONFLICT; while the first is still running, 409 CONFLICT
too (retry it). Answers of 5xx are not kept: the key is released for a retry.

The key (with the request's scope and body) also seeds the ids of the messages the
request queues. A request that queued its messages but whose answer was lost (the
messaging service died before replying, so the key could not be settled and is taken
over 60 s later) is run again with the same ids: billing's reservation is idempotent by
id and the messages' streams exist, so it answers as the first would have, with nothing
sent or charged twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, Any

import grpc
from fastapi import Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from gateway.clients import Clients
from gateway.errors import ApiError, envelope, remote_envelope
from kernel.errors import from_rpc_error
from switchboard.messaging.v1 import messaging_pb2 as pb

log = logging.getLogger(__name__)

IdempotencyKey = Annotated[str | None, Header(max_length=255)]
Outcome = pb.IdempotencyClaim


def fingerprint(request: Request, payload: BaseModel) -> str:
    body = json.dumps(payload.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    text = f"{request.method} {request.url.path} {body}"
    return hashlib.sha256(text.encode()).hexdigest()


async def _answer(request: Request, run: Callable[[], Awaitable[dict[str, Any]]]
                  ) -> Response:
    try:
        return JSONResponse(await run())
    except ApiError as exc:
        return envelope(request, exc.code, exc.message, exc.headers)
    except grpc.aio.AioRpcError as exc:
        return remote_envelope(request, from_rpc_error(exc))


async def once(request: Request, response: Response, clients: Clients, scope: str,
               key: str | None, payload: BaseModel,
               run: Callable[[str], Awaitable[dict[str, Any]]]) -> Any:
    """`run(id_seed)`'s answer, or with a key, the key's first answer (see the module
    doc). With a key, the seed (scope, key and body) fixes the ids of the messages the
    request queues, so a run after a lost answer finds them queued and adds nothing."""
    if key is None:
        return await run("")
    ref = pb.IdempotencyKeyRef(scope=scope, key=key, fingerprint=fingerprint(request, payload))
    seed = f"{ref.scope}\n{ref.key}\n{ref.fingerprint}"
    claim = await clients.messaging.ClaimIdempotencyKey(pb.ClaimIdempotencyKeyRequest(ref=ref))
    if claim.outcome == Outcome.OUTCOME_REPLAY:
        return Response(claim.body, status_code=claim.status_code,
                        media_type="application/json",
                        headers={**response.headers, "Idempotent-Replayed": "true"})
    if claim.outcome == Outcome.OUTCOME_MISMATCH:
        raise ApiError("CONFLICT", "This Idempotency-Key was used with a different request")
    if claim.outcome != Outcome.OUTCOME_NEW:
        raise ApiError("CONFLICT", "A request with this Idempotency-Key is in progress; "
                                   "retry it shortly")
    try:
        answer = await _answer(request, partial(run, seed))
    except BaseException:
        await _settle(clients, ref, None)
        raise
    await _settle(clients, ref, answer)
    answer.headers.update(response.headers)
    return answer


async def _settle(clients: Clients, ref: pb.IdempotencyKeyRef, answer: Response | None) -> None:
    """Keep the answer, or release the key when there is none worth keeping."""
    try:
        if answer is None or answer.status_code >= 500:
            await clients.messaging.ReleaseIdempotencyKey(ref)
        else:
            await clients.messaging.SaveIdempotentResponse(pb.SaveIdempotentResponseRequest(
                ref=ref, status_code=answer.status_code, body=bytes(answer.body)))
    except grpc.aio.AioRpcError:
        log.exception("could not settle an Idempotency-Key")
