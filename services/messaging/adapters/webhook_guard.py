"""Where a webhook may point. The URL is parsed by the HTTP client's own parser
(httpx.URL), so what is accepted at registration is what delivery can use; its host, as
an IP literal in any spelling (decimal, hex, octal, short, IPv6) or as the addresses a
name resolves to, must pass the address policy (domain/webhook_targets.py). The same
guard runs again when delivery connects (adapters/webhook_transport.py)."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from ipaddress import IPv4Address

import httpx

from services.messaging.domain.webhook import InvalidWebhookError, webhook_url
from services.messaging.domain.webhook_targets import IP, AddressPolicy, parse_ip

Resolver = Callable[[str, int], Awaitable[list[str]]]

LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
HOST_NAME = re.compile(rf"(?=.{{1,253}}$){LABEL}(?:\.{LABEL})*\.?")
DEFAULT_PORTS = {"http": 80, "https": 443}


class RefusedTargetError(Exception):
    """The host is, or resolves to, an address the policy refuses."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # ASCII (IDNA applied); an IPv6 literal without brackets
    port: int


def parse_target(url: str) -> Target:
    """The URL as httpx will use it; InvalidWebhookError for what it cannot."""
    try:
        parsed = httpx.URL(webhook_url(url))
        host = parsed.raw_host.decode("ascii")
    except (httpx.InvalidURL, ValueError) as exc:  # IDNA errors are ValueErrors
        raise InvalidWebhookError("url is not a valid URL") from exc
    if parsed.scheme not in DEFAULT_PORTS or not host:
        raise InvalidWebhookError("url must be an absolute http or https URL")
    port = DEFAULT_PORTS[parsed.scheme] if parsed.port is None else parsed.port
    if not 1 <= port <= 65535:
        raise InvalidWebhookError("url has an invalid port (1..65535)")
    if parse_ip(host) is None and not HOST_NAME.fullmatch(host):
        raise InvalidWebhookError("url has an invalid host name")
    return Target(parsed.scheme, host, port)


def literal_ip(host: str) -> IP | None:
    """The address a host spelled as a number stands for, as the C resolver reads it
    ("2130706433", "0x7f000001", "127.1" are 127.0.0.1)."""
    ip = parse_ip(host)
    if ip is None and ":" not in host:
        try:
            ip = IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return ip


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class TargetGuard:
    policy: AddressPolicy
    resolver: Resolver = system_resolver
    lookup_seconds: float = 3.0

    async def addresses(self, host: str, port: int) -> list[IP]:
        """Every address `host` stands for, resolved once; RefusedTargetError if any of
        them is refused (a name may not mix public and private answers)."""
        literal = literal_ip(host)
        found = [literal] if literal is not None else \
            [ip for ip in map(parse_ip, await self.resolver(host, port)) if ip is not None]
        if not found:
            raise OSError(f"no address for {host!r}")
        if self.policy.refused(found):
            raise RefusedTargetError(host)
        return found

    async def check(self, url: str) -> str:
        """Registration: the URL, if delivery could use it and it points at a permitted
        address. A name that does not resolve (yet) is accepted: delivery checks again
        each time it connects."""
        target = parse_target(url)
        try:
            async with asyncio.timeout(self.lookup_seconds):
                await self.addresses(target.host, target.port)
        except RefusedTargetError as exc:
            raise InvalidWebhookError("url must point to a public address: loopback, "
                                      "private, link-local and reserved ones are refused"
                                      ) from exc
        except (OSError, TimeoutError):
            pass
        return url.strip()
