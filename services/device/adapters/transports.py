"""Picks the transport named in the settings."""

from __future__ import annotations

from kernel.config import Settings
from services.device.adapters.simulator import SimulatorTransport
from services.device.app.transport import Transport


class UnknownTransportError(ValueError):
    pass


def simulator_from(settings: Settings) -> SimulatorTransport:
    return SimulatorTransport(
        delivery_delay=settings.sim_delivery_delay_ms / 1000,
        read_delay=settings.sim_read_delay_ms / 1000,
        failure_rate=settings.sim_failure_rate,
        qr_ttl=float(settings.qr_ttl_seconds),
    )


def transport_from(settings: Settings) -> Transport:
    if settings.transport == "simulator":
        return simulator_from(settings)
    raise UnknownTransportError(f"transport {settings.transport!r} is not available yet")
