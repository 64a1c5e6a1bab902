"""Liveness and readiness of the gateway and the services behind it."""

from __future__ import annotations

import asyncio

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.deps import ServiceClients
from kernel import stackid

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(clients: ServiceClients, request: Request) -> JSONResponse:
    """Each service's health check, and the stack this gateway belongs to (its id from
    `<var_dir>/stack-id`, kernel/stackid.py): `switchboard up` and `status` know by it
    that they reached their own gateway."""
    async def check(name: str, chan: grpc.aio.Channel) -> tuple[str, str]:
        try:
            reply = await health_pb2_grpc.HealthStub(chan).Check(
                health_pb2.HealthCheckRequest(), timeout=1.0)
            return name, health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        except grpc.aio.AioRpcError as exc:
            return name, exc.code().name

    results = dict(await asyncio.gather(*(check(n, c) for n, c in clients.channels.items())))
    ok = all(v == "SERVING" for v in results.values())
    return JSONResponse({"status": "ok" if ok else "degraded", "services": results,
                         "stack": stackid.read(request.app.state.settings.var_dir)},
                        status_code=200 if ok else 503)


@router.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "ok"}
