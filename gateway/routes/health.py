"""Liveness and readiness of the gateway and the services behind it."""

from __future__ import annotations

import asyncio

import grpc
from fastapi import Request
from fastapi.responses import JSONResponse
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.deps import ServiceClients
from gateway.leanroute import api_router
from kernel import stackid
from switchboard.device.v1 import device_pb2, device_pb2_grpc

router = api_router(tags=["health"])


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

    checks = asyncio.gather(*(check(n, c) for n, c in clients.channels.items()))
    results, pool = await asyncio.gather(checks, _pool(clients.device))
    ok = all(v == "SERVING" for v in dict(results).values())
    return JSONResponse({"status": "ok" if ok else "degraded", "services": dict(results),
                         "pool": pool, "stack": stackid.read(request.app.state.settings.var_dir)},
                        status_code=200 if ok else 503)


async def _pool(device: device_pb2_grpc.DeviceServiceStub) -> dict[str, object] | None:
    """The shared pool of the transport in use, as a detail: an empty pool (no linked
    device: Messaging API sends are refused) does not fail the probe, which would only
    restart a gateway that is fine. None when the device service does not answer."""
    try:
        pool = await device.GetPoolStatus(device_pb2.GetPoolStatusRequest(), timeout=1.0)
    except grpc.aio.AioRpcError:
        return None
    return {"transport": pool.transport, "linked_devices": pool.linked_devices,
            "available_devices": pool.available_devices,
            "total_devices": pool.total_devices, "empty": pool.linked_devices == 0}


@router.get("/livez")
async def livez() -> dict[str, str]:
    """The gateway process alone answers (no service is asked)."""
    return {"status": "ok"}
