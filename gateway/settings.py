"""The gateway's settings: the kernel's, plus its port, proxies, request limits, status
streams, the Cloud API webhook's keys and what it shows (/metrics, API docs)."""

from __future__ import annotations

import ipaddress

from pydantic import field_validator

from kernel.config import Settings

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class GatewaySettings(Settings):
    gateway_port: int = 8080
    # X-Forwarded-For only from `trusted_proxies` (CIDRs, comma separated; none by default).
    trusted_proxies: str = ""
    max_body_bytes: int = 1_048_576
    max_json_depth: int = 32  # request bodies nested deeper: 400 INVALID_REQUEST
    status_stream_heartbeat_seconds: float = 15.0  # GET /api/messages/stream comments
    status_stream_max_per_user: int = 5  # open streams per user and gateway process
    # template sends: refused here before messaging refuses them (services/messaging)
    template_max_variables: int = 50
    template_max_variable_chars: int = 4096
    # the device service's transport (services/device): /simulator/* only with the simulator
    transport: str = "simulator"
    cloud_app_secret: str = ""  # signs Cloud API status webhooks (X-Hub-Signature-256)
    cloud_verify_token: str = ""  # the GET handshake's hub.verify_token
    # unset, /metrics on the public port; a port, there only (on `host`); 0, off.
    # `api_docs` off: no /docs, /redoc, /openapi.json or /asyncapi.json.
    gateway_metrics_port: int | None = None
    api_docs: bool = True

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, value: str) -> str:
        networks_of(value)  # a bad CIDR stops the process at start-up
        return value

    def trusted_networks(self) -> list[IPNetwork]:
        return networks_of(self.trusted_proxies)


def networks_of(cidrs: str) -> list[IPNetwork]:
    """`10.0.0.0/8, 192.168.1.7` as networks (a bare address is a /32 or /128)."""
    return [ipaddress.ip_network(c.strip(), strict=False) for c in cidrs.split(",")
            if c.strip()]
