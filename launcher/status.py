"""`switchboard status`: the stack (its id), its ports, each service's health and the
devices with their states, asked of the processes themselves. `up` prints its banner's
pool from the same report (`status --json`), so its own process loads no gRPC client."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from kernel import stackid
from kernel.config import SERVICES, Settings
from kernel.rpc import channel
from launcher.health import gateway_health, is_ours
from launcher.ports import StackPorts, metrics_ports
from switchboard.device.v1 import device_pb2, device_pb2_grpc

Report = dict[str, Any]


class StatusSettings(StackPorts, Protocol):
    """The launcher's settings (every process's), as far as a report reads them."""

    var_dir: Path
    nats_url: str
    transport: str

    def service_addr(self, service: str) -> str: ...


async def report(settings: StatusSettings) -> Report:
    """What the stack of these settings is doing now (JSON-ready)."""
    ours = stackid.read(settings.var_dir)
    health = gateway_health(settings.host, settings.gateway_port)
    addrs = {s: settings.service_addr(s) for s in SERVICES}
    states = await asyncio.gather(*(_health(addr) for addr in addrs.values()))
    metrics = metrics_ports(settings)
    return {
        "stack": ours, "var_dir": str(settings.var_dir.resolve()),
        "transport": settings.transport,
        "gateway": {"addr": f"{settings.host}:{settings.gateway_port}",
                    "state": _gateway_state(health, ours)},
        "nats": {"addr": _nats_addr(settings.nats_url),
                 "state": "listening" if _listening(_nats_addr(settings.nats_url))
                 else "not listening"},
        "services": {s: {"addr": addrs[s], "state": state, "metrics_port": metrics[s]}
                     for s, state in zip(SERVICES, states, strict=True)},
        "devices": await _devices(settings, addrs["device"]),
    }


async def show_status(settings: StatusSettings, as_json: bool) -> int:
    """Print the report; exit code 0 when every part answers and all is well."""
    got = await report(settings)
    print(json.dumps(got) if as_json else render(got))
    return 0 if healthy(got) else 1


def healthy(got: Report) -> bool:
    return got["gateway"]["state"] == "ok" and got["devices"] is not None and \
        all(s["state"] == "SERVING" for s in got["services"].values())


def render(got: Report) -> str:
    lines = [f"Stack {got['stack'] or '(no id: never started by `switchboard up`)'} "
             f"(var dir {got['var_dir']})"]
    for name in ("gateway", "nats"):
        lines.append(f"  {name:<10} {got[name]['addr']:<22} {got[name]['state']}")
    for name, s in got["services"].items():
        metrics = f"metrics :{s['metrics_port']}" if s["metrics_port"] else "metrics off"
        lines.append(f"  {name:<10} {s['addr']:<22} {s['state']:<12} {metrics}")
    devices = got["devices"]
    if devices is None:
        lines.append("Devices: unknown (the device service does not answer)")
        return "\n".join(lines)
    lines.append(f"Devices ({len(devices)}; transport in use: {got['transport']}):")
    lines += [f"  {d['device_id']:<34} {'pool' if d['pooled'] else 'user ' + str(d['owner']):<9}"
              f" {d['transport']:<10} {d['state']:<14} {d['phone'] or '-':<16} {d['reason']}"
              for d in devices]
    return "\n".join(lines)


def _gateway_state(health: dict[str, Any] | None, ours: str) -> str:
    if health is None:
        return "not answering"
    if health.get("stack") != ours:
        return f"another stack's gateway answers ({health.get('stack') or 'no id'})"
    return "ok" if is_ours(health, ours) else str(health.get("status", "degraded"))


async def _health(addr: str) -> str:
    """The service's gRPC health (asked without a token, as probes do)."""
    async with grpc.aio.insecure_channel(addr) as chan:
        try:
            reply = await health_pb2_grpc.HealthStub(chan).Check(
                health_pb2.HealthCheckRequest(), timeout=2.0)
        except grpc.aio.AioRpcError as exc:
            return exc.code().name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


async def _devices(settings: StatusSettings, addr: str) -> list[dict[str, Any]] | None:
    assert isinstance(settings, Settings)  # the CLI's service token is made from them
    async with channel(addr, settings, identity="cli") as chan:
        try:
            listed = await device_pb2_grpc.DeviceServiceStub(chan).ListDevices(
                device_pb2.ListDevicesRequest(), timeout=5.0)
        except grpc.aio.AioRpcError:
            return None
    return [{"device_id": d.device_id, "name": d.name, "pooled": d.pooled,
             "owner": d.owner_user_id, "transport": d.transport, "linked": d.session_linked,
             "state": device_pb2.DeviceStatus.Name(d.status).removeprefix("DEVICE_STATUS_")
             .replace("_", " ").lower(), "phone": d.phone_number, "reason": d.status_reason}
            for d in listed.devices]


def _nats_addr(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 4222}"


def _listening(addr: str) -> bool:
    host, _, port = addr.rpartition(":")
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex((host, int(port))) == 0
