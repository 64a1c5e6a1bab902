"""The ports `switchboard up` binds, checked before it starts anything: each one free on
the stack's host, none given twice, or the setting that moves it.

Metrics: the embedded stack serves no service /metrics unless SWITCHBOARD_METRICS_PORT
is set (9151-9154 by default would collide between two stacks on one machine). Then each
process that runs services serves its one registry on a port of its own, from that port
up: the all-in-one process first (its services share one), then each service of its own
process, in SERVICES order (split: auth's, then billing's, messaging's and device's; the
default pair: the all-in-one process's, then the device's).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Protocol

from kernel.config import SERVICES
from launcher.settings import ALONE


class StackPorts(Protocol):
    """The settings that place the stack's listeners."""

    host: str
    gateway_port: int
    nats_port: int
    metrics_port: int | None
    gateway_metrics_port: int | None

    @property
    def processes(self) -> str: ...  # pair | single | split (launcher/settings.py ALONE)

    def service_port(self, service: str) -> int: ...


@dataclass(frozen=True)
class Port:
    number: int
    user: str  # who binds it
    setting: str  # the variable that moves it


def metrics_ports(settings: StackPorts) -> dict[str, int]:
    """Each service's metrics port under `up`: 0 (off) unless SWITCHBOARD_METRICS_PORT
    is set, then one port per process from it (the module's docstring)."""
    base = settings.metrics_port
    if not base:
        return dict.fromkeys(SERVICES, 0)
    alone = ALONE[settings.processes]
    together = [service for service in SERVICES if service not in alone]
    ports = dict.fromkeys(together, base)
    following = base + int(bool(together))
    for service in (s for s in SERVICES if s in alone):
        ports[service], following = following, following + 1
    return ports


def needed(settings: StackPorts) -> list[Port]:
    ports = [Port(settings.gateway_port, "the gateway", "SWITCHBOARD_GATEWAY_PORT"),
             Port(settings.nats_port, "nats-server", "SWITCHBOARD_NATS_PORT")]
    ports += [Port(settings.service_port(s), f"{s} (gRPC)", f"SWITCHBOARD_{s.upper()}_ADDR")
              for s in SERVICES]
    serving: dict[int, str] = {}  # one port each, or one for the all-in-one process
    for service, port in metrics_ports(settings).items():
        serving[port] = "the services" if port in serving else service
    ports += [Port(port, f"{user} (metrics)", "SWITCHBOARD_METRICS_PORT")
              for port, user in serving.items() if port]
    if settings.gateway_metrics_port:
        ports.append(Port(settings.gateway_metrics_port, "the gateway (metrics)",
                          "SWITCHBOARD_GATEWAY_METRICS_PORT"))
    return ports


def problems(settings: StackPorts) -> list[str]:
    """Why the stack cannot bind its ports: one line per port taken or given twice."""
    found, seen = [], dict[int, Port]()
    for port in needed(settings):
        if (first := seen.setdefault(port.number, port)) is not port:
            found.append(f"port {port.number} is set for both {first.user} ({first.setting}) "
                         f"and {port.user} ({port.setting}): move one")
        elif not free(settings.host, port.number):
            found.append(f"port {port.number} for {port.user} is taken on {settings.host} "
                         f"(another process or stack listens there): stop it, or move "
                         f"this stack's with {port.setting}")
    return found


def free(host: str, port: int) -> bool:
    """Whether a server could listen there now (as servers bind: SO_REUSEADDR, so
    connections lingering in TIME_WAIT after a stop do not count)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True
