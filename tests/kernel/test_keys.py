"""kernel/keys.py: generated keys are shared by processes that start together, private,
and reused; key strength as the non-local check judges it."""

from __future__ import annotations

import secrets
import stat
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from kernel import keys
from services.auth.settings import AuthSettings


def test_processes_starting_together_share_one_generated_key(tmp_path: Path) -> None:
    with ProcessPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(keys.stored_secret, [tmp_path] * 12, ["jwt-secret"] * 12))
    assert len({value for value, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    folder = tmp_path / keys.SECRETS_DIR
    assert [p.name for p in folder.iterdir()] == ["jwt-secret"], "no drafts left behind"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "jwt-secret").stat().st_mode) == 0o600
    assert keys.weak_key(results[0][0]) is None


def test_local_settings_read_the_kept_keys_and_never_a_constant(tmp_path: Path) -> None:
    first, again = AuthSettings(var_dir=tmp_path), AuthSettings(var_dir=tmp_path)
    assert (first.jwt_secret, first.secret_pepper) == (again.jwt_secret, again.secret_pepper)
    assert first.jwt_secret != first.secret_pepper
    elsewhere = AuthSettings(var_dir=tmp_path / "other")
    assert elsewhere.jwt_secret != first.jwt_secret
    assert (tmp_path / "secrets" / "jwt-secret").read_text().strip() == first.jwt_secret


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "[::1]", "localhost"])
def test_loopback_hosts(host: str) -> None:
    assert keys.is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "example.com", ""])
def test_other_hosts_are_not_loopback(host: str, tmp_path: Path) -> None:
    assert not keys.is_loopback(host)
    with pytest.raises(ValueError, match="not a loopback address"):
        AuthSettings(host=host, var_dir=tmp_path)


@pytest.mark.parametrize("make", [lambda: secrets.token_hex(16), lambda: secrets.token_hex(32),
                                  lambda: secrets.token_urlsafe(32),
                                  lambda: secrets.token_hex(200)],
                         ids=["hex16", "hex32", "urlsafe32", "hex200"])
def test_generated_keys_pass(make: Callable[[], str]) -> None:
    for _ in range(20):
        assert keys.weak_key(make()) is None


RANDOM_HEX = "9f1c2e7ab04d5863e1f0a97c2b6d48e3"  # a random 32-character stand-in


@pytest.mark.parametrize("value,why", [
    ("", "not set"), ("Z" * 32, "distinct"), ("0123456789" * 4, "repeats"),
    ("AbCdEfGhIj" * 4, "repeats"), ("dev-only-" + RANDOM_HEX, "known"),
    ("my-EXAMPLE-key-" + RANDOM_HEX, "known"), (RANDOM_HEX[:30], "shorter"),
])
def test_weak_keys_are_named(value: str, why: str) -> None:
    assert keys.weak_key(RANDOM_HEX) is None
    reason = keys.weak_key(value)
    assert reason is not None and why in reason
