"""The launcher's settings: it starts every process and speaks for all of them (their
admin, NATS users and buckets, ports, banner), so it reads every service's settings.
`switchboard service <name>` checks that process's own class before running it."""

from __future__ import annotations

from gateway.settings import GatewaySettings
from kernel.config import Settings
from services.auth.settings import AuthSettings
from services.billing.settings import BillingSettings
from services.device.settings import DeviceSettings
from services.messaging.settings import MessagingSettings

PROCESS_SETTINGS: dict[str, type[Settings]] = {
    "auth": AuthSettings, "billing": BillingSettings, "messaging": MessagingSettings,
    "device": DeviceSettings, "gateway": GatewaySettings}


class StackSettings(AuthSettings, BillingSettings, MessagingSettings, DeviceSettings,
                    GatewaySettings):
    """Every process's settings in one (the launcher's, and tests' in-process stacks)."""
