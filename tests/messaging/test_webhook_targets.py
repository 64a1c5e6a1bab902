"""Where a webhook may point: URLs parsed as the HTTP client parses them, every spelling of
a non-public address refused unless allow-listed, names checked by what they resolve to
(the system resolver, through /etc/hosts for `localhost`); and the endpoint breaker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.messaging.adapters.webhook_guard import (
    RefusedTargetError,
    TargetGuard,
    literal_ip,
    parse_target,
)
from services.messaging.domain.webhook import InvalidWebhookError
from services.messaging.domain.webhook_breaker import Breaker
from services.messaging.domain.webhook_targets import AddressPolicy, allow_list, parse_ip

NOW = datetime(2026, 1, 2, tzinfo=UTC)
STRICT = TargetGuard(AddressPolicy())


@pytest.mark.parametrize("url", [
    "http://hooks.example:99999/h", "http://hooks.example:0/h", "http://hooks.example/a\r\nb",
    "http://hooks.example/a\tb", "http://xn--/", "http://exa mple.com/",
    "http://hooks.example/\x00", "http://ex%41mple.com/", "http://0177.0.0.1/"])
def test_urls_the_client_cannot_use_are_refused(url: str) -> None:
    with pytest.raises(InvalidWebhookError):
        parse_target(url)


def test_the_target_is_what_the_client_connects_to() -> None:
    target = parse_target("https://bücher.example/hook?x=1")
    assert (target.scheme, target.host, target.port) == ("https", "xn--bcher-kva.example", 443)
    assert parse_target("http://[::1]:8080/").host == "::1"


@pytest.mark.parametrize("host", [
    "127.0.0.1", "2130706433", "0x7f000001", "127.1", "0x7f.1", "::1", "::ffff:127.0.0.1",
    "64:ff9b::7f00:1", "2002:7f00:1::", "10.1.2.3", "172.16.0.1", "192.168.1.1",
    "169.254.169.254", "100.64.0.1", "224.0.0.1", "239.1.2.3", "240.0.0.1", "0.0.0.0",
    "::", "fe80::1", "fc00::1", "ff02::1", "192.0.2.1", "255.255.255.255"])
def test_every_spelling_of_a_non_public_address_is_refused(host: str) -> None:
    ip = literal_ip(host)
    assert ip is not None and not AddressPolicy().permits(ip)


@pytest.mark.parametrize("host", ["93.184.215.14", "2606:4700::1111", "8.8.8.8"])
def test_public_addresses_pass(host: str) -> None:
    ip = literal_ip(host)
    assert ip is not None and AddressPolicy().permits(ip)


def test_the_allow_list_opens_only_its_networks() -> None:
    policy = AddressPolicy(allow_list("127.0.0.0/8, ::1"))
    assert policy.permits(parse_ip("127.0.0.5"))  # type: ignore[arg-type]
    assert policy.permits(parse_ip("::ffff:127.0.0.1"))  # type: ignore[arg-type]
    assert not policy.permits(parse_ip("10.0.0.1"))  # type: ignore[arg-type]
    assert allow_list("") == ()
    with pytest.raises(ValueError, match="allow-list"):
        allow_list("10.0.0.0/8,not-a-net")


@pytest.mark.parametrize("url", ["http://127.0.0.1:50153/", "http://2130706433/",
                                 "http://0x7f000001:4222/", "http://[::1]/",
                                 "http://169.254.169.254/latest/meta-data/",
                                 "http://localhost:8080/", "http://LocalHost/"])
async def test_registration_refuses_private_targets(url: str) -> None:
    with pytest.raises(InvalidWebhookError, match="public address"):
        await STRICT.check(url)


async def test_allow_listed_names_and_public_literals_are_accepted() -> None:
    opened = TargetGuard(AddressPolicy(allow_list("127.0.0.0/8")))
    assert await opened.check(" http://localhost:8080/h ") == "http://localhost:8080/h"
    assert await STRICT.check("https://93.184.215.14/h") == "https://93.184.215.14/h"


async def test_a_name_mixing_public_and_private_answers_is_refused() -> None:
    async def mixed(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "10.0.0.7"]

    with pytest.raises(RefusedTargetError):
        await TargetGuard(AddressPolicy(), resolver=mixed).addresses("mixed.test", 443)


def test_breaker_opens_after_failures_in_a_row_then_probes_one_at_a_time() -> None:
    breaker = Breaker(threshold=3, cool_down=timedelta(seconds=10), cap=timedelta(seconds=25))
    assert [breaker.failed(NOW) for _ in range(2)] == [None, None]
    assert breaker.room(NOW, 2) == 2
    assert breaker.failed(NOW) == NOW + timedelta(seconds=10)
    assert breaker.room(NOW + timedelta(seconds=9), 2) == 0
    assert breaker.failed(NOW + timedelta(seconds=1)) is None  # already open: no doubling
    later = NOW + timedelta(seconds=10)
    assert breaker.room(later, 2) == 1
    assert breaker.failed(later) == later + timedelta(seconds=20)
    assert breaker.failed(later + timedelta(seconds=20)) == later + timedelta(seconds=45)
    breaker.succeeded()
    assert breaker.room(later, 2) == 2 and breaker.failures == 0
