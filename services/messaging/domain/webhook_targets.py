"""Which addresses a webhook may reach: public unicast ones only, unless the operator
allow-listed a network (SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE). Loopback, private,
link-local (cloud metadata), CGNAT, multicast, reserved, documentation and unspecified
addresses are refused, also when hidden in an IPv6 form (IPv4-mapped, NAT64, 6to4,
Teredo)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

IP = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

NAT64 = ip_network("64:ff9b::/96")
CGNAT = ip_network("100.64.0.0/10")


def embedded_v4(ip: IP) -> IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, when it carries one."""
    if isinstance(ip, IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64:
        return IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    return ip.teredo[1] if ip.teredo is not None else None


def _public(ip: IP) -> bool:
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip in CGNAT)


def allow_list(cidrs: str) -> tuple[Network, ...]:
    """Comma-separated networks ("127.0.0.0/8, ::1"); ValueError names a bad one."""
    found = []
    for cidr in filter(None, (part.strip() for part in cidrs.split(","))):
        try:
            found.append(ip_network(cidr, strict=False))
        except ValueError as exc:
            raise ValueError(f"not a network in the webhook allow-list: {cidr!r}") from exc
    return tuple(found)


@dataclass(frozen=True)
class AddressPolicy:
    allowed: Sequence[Network] = ()

    def permits(self, ip: IP) -> bool:
        inner = embedded_v4(ip)
        if any(ip in net or (inner is not None and inner in net) for net in self.allowed):
            return True
        return _public(ip) and (inner is None or _public(inner))

    def refused(self, ips: Iterable[IP]) -> list[IP]:
        return [ip for ip in ips if not self.permits(ip)]


def parse_ip(text: str) -> IP | None:
    try:
        return ip_address(text)
    except ValueError:
        return None
