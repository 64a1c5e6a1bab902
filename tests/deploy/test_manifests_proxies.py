"""The gateway believes X-Forwarded-For from the ingress controller's pods only: its
trusted proxies are private ranges the Settings accept, and no service is given any."""

from __future__ import annotations

import ipaddress

from gateway.settings import networks_of
from tests.deploy.manifests import SERVICES, Obj, containers, of_kind


def env_value(objects: tuple[Obj, ...], app: str, name: str) -> str | None:
    container = containers(of_kind(objects, "Deployment")[app])[0]
    return next((e.get("value") for e in container.get("env", []) if e["name"] == name),
                None)


def test_the_gateway_trusts_the_ingress_pod_ranges_only(objects: tuple[Obj, ...]) -> None:
    value = env_value(objects, "gateway", "SWITCHBOARD_TRUSTED_PROXIES")
    assert value
    networks = networks_of(value)
    assert networks and all(n.is_private and n.prefixlen >= 8 for n in networks)
    assert ipaddress.ip_address("203.0.113.9") not in networks[0]
    for service in SERVICES:
        assert env_value(objects, service, "SWITCHBOARD_TRUSTED_PROXIES") is None
