"""Picks the transport named in the settings."""

from __future__ import annotations

from kernel.media import MediaStore
from services.device.adapters.simulator import SimulatedWhatsApp, SimulatorTransport
from services.device.app.transport import Transport
from services.device.settings import DeviceSettings


class UnknownTransportError(ValueError):
    pass


def simulator_state_path(settings: DeviceSettings) -> str:
    return settings.sim_state_path or str(settings.var_dir / "simulator.db")


def simulator_from(settings: DeviceSettings, media: MediaStore) -> SimulatorTransport:
    return SimulatorTransport(
        delivery_delay=settings.sim_delivery_delay_ms / 1000,
        read_delay=settings.sim_read_delay_ms / 1000,
        failure_rate=settings.sim_failure_rate,
        transient_failure_rate=settings.sim_transient_failure_rate,
        qr_ttl=float(settings.qr_ttl_seconds),
        qr_refresh=float(settings.qr_refresh_seconds),
        send_latency=settings.sim_send_latency_ms / 1000,
        far_side=SimulatedWhatsApp(simulator_state_path(settings)),
        media=media,
    )


def whatsmeow_missing(exc: ImportError) -> str:
    """What is missing for the whatsmeow transport: neonize itself (an optional extra),
    or what neonize needs and failed to load (e.g. the libmagic system library)."""
    if exc.name in ("neonize", "magic"):
        return (f"the whatsmeow transport needs the {exc.name!r} package: "
                "pip install 'switchboard-gateway[whatsmeow]'")
    return (f"the whatsmeow transport could not load neonize: {exc} (a system library it "
            "needs is missing? neonize needs libmagic: apt-get install libmagic1)")


def transport_from(settings: DeviceSettings, media: MediaStore) -> Transport:
    """The simulator by default; `whatsmeow` needs the optional neonize extra. Media sends
    read their files from `media`, the service's one store."""
    if settings.transport == "simulator":
        return simulator_from(settings, media)
    if settings.transport == "cloud":
        from services.device.adapters.cloud import cloud_from

        return cloud_from(settings, media)
    if settings.transport == "whatsmeow":
        try:
            from services.device.adapters.whatsmeow import whatsmeow_from
        except ImportError as exc:  # neonize is an optional extra
            raise UnknownTransportError(whatsmeow_missing(exc)) from exc
        return whatsmeow_from(settings, media)
    raise UnknownTransportError(f"transport {settings.transport!r} is not available")
