"""The launcher's settings: it starts every process and speaks for all of them (their
admin, NATS users and buckets, ports, banner), so it reads every service's settings.
`switchboard service <name>` checks that process's own class before running it."""

from __future__ import annotations

from typing import Literal

from gateway.settings import GatewaySettings
from kernel.config import SERVICES, Settings
from services.auth.settings import AuthSettings
from services.billing.settings import BillingSettings
from services.device.settings import DeviceSettings
from services.messaging.settings import MessagingSettings

PROCESS_SETTINGS: dict[str, type[Settings]] = {
    "auth": AuthSettings, "billing": BillingSettings, "messaging": MessagingSettings,
    "device": DeviceSettings, "gateway": GatewaySettings}


# The all-in-one process's parts' own environments, {part: {variable: value}} as JSON
# (launcher/single.py): what `up` gives each part's own process when they run split.
OWN_ENV = "SWITCHBOARD_PROCESSES_OWN_ENV"

# The parts that run in a process of their own under each `processes` setting; the
# others run together in the all-in-one process (launcher/single.py).
ALONE: dict[str, tuple[str, ...]] = {
    "single": (),
    "pair": ("device",),
    "split": (*SERVICES, "gateway"),
}


class LauncherSettings(Settings):
    """What `switchboard up` alone reads."""

    # pair: the device service in a process of its own, the gateway and the other three
    # services in one (launcher/single.py): the Python of the accepting side and of the
    # sending side on a core each (docs/operations.md, "The local stack");
    # single: all five in one process; split: a process each, as in the k8s manifests.
    processes: Literal["pair", "single", "split"] = "pair"


class StackSettings(LauncherSettings, AuthSettings, BillingSettings, MessagingSettings,
                    DeviceSettings, GatewaySettings):
    """Every process's settings in one (the launcher's, and tests' in-process stacks)."""
