"""The image's configuration refuses to run on keys anyone knows (issue 12, items 1 and
16): `switchboard service <name>`, the image's entry point, started as a process with the
runtime stage's ENV (its var dir moved to the test's), must stop at once with a clear
reason when keys are missing, weak, or the dev overlay's committed ones, or the admin
password is the old default, and must serve once real keys are given. A local
environment bound beyond loopback is refused the same way."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from launcher.natsserver import free_port
from launcher.settings import StackSettings
from tests.deploy.dockerfile import stages
from tests.deploy.manifests import K8S, ROOT

DEV_SECRETS = K8S / "overlays" / "dev" / "secrets.dev.env"
FORMER_DEV_KEYS = {"jwt-secret": "dev-only-jwt-secret-not-for-production",
                   "secret-pepper": "dev-only-secret-pepper-not-for-production",
                   "admin-password": "dev-only-admin-password"}
OLD_DEFAULTS = {"jwt-secret": "local-development-only-jwt-secret-not-for-production",
                "secret-pepper": "local-development-only-pepper-not-for-production",
                "admin-password": "switchboard-admin"}


def image_env(var_dir: Path, **settings: str) -> dict[str, str]:
    """The runtime stage's ENV, on top of a clean environment of this machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    for ins in stages((ROOT / "Dockerfile").read_text())[-1].all("ENV"):
        for pair in ins.args.split():
            name, _, value = pair.partition("=")
            if name.startswith("SWITCHBOARD_"):
                env[name] = value
    env["SWITCHBOARD_VAR_DIR"] = str(var_dir)
    env.update({f"SWITCHBOARD_{k.upper()}": v for k, v in settings.items()})
    return env


def image_settings(var_dir: Path, **settings: object) -> StackSettings:
    """Settings as the image's process reads them (its ENV), with `settings` on top."""
    values = {k.removeprefix("SWITCHBOARD_").lower(): v for k, v in image_env(var_dir).items()
              if k.startswith("SWITCHBOARD_")}
    return StackSettings(**{**values, **settings})


def run(service: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "launcher", "service", service],
                          env=env, capture_output=True, text=True, timeout=60)


def strong() -> str:
    return secrets.token_hex(32)


def dev_values() -> list[str]:
    """Every value the dev overlay commits (placeholders of passwords, not keys)."""
    pairs = (line.split("=", 1) for line in DEV_SECRETS.read_text().splitlines() if "=" in line)
    return [v.strip() for _, v in pairs]


def test_the_image_runs_a_non_local_environment() -> None:
    env = image_env(Path("/nowhere"))
    assert env["SWITCHBOARD_ENVIRONMENT"] not in ("", "local")
    assert env["SWITCHBOARD_HOST"] == "0.0.0.0"


@pytest.mark.parametrize("service", ["gateway", "auth"])
def test_without_keys_the_image_refuses_to_start(service: str, tmp_path: Path) -> None:
    done = run(service, image_env(tmp_path))
    assert done.returncode == 2
    assert "refusing to start" in done.stderr and "SWITCHBOARD_JWT_SECRET" in done.stderr
    assert "not set" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("jwt_secret,why", [
    ("a" * 32, "distinct characters"),
    ("ab" * 40, "distinct characters"),
    ("0123456789" * 3 + "ab", "entropy"),
    ("Kx7#mQ2!vR" * 4, "entropy"),
    ("short-but-random-Zx8", "shorter than"),
    (OLD_DEFAULTS["jwt-secret"], "known"),
    ("dev-only-jwt-secret-not-for-production", "known"),
])
def test_weak_and_known_jwt_keys_are_refused(jwt_secret: str, why: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=f"SWITCHBOARD_JWT_SECRET.*{why}"):
        image_settings(tmp_path, jwt_secret=jwt_secret, secret_pepper=strong())


def test_a_weak_key_stops_the_process_with_its_reason(tmp_path: Path) -> None:
    done = run("gateway", image_env(tmp_path, jwt_secret="a" * 32, secret_pepper=strong()))
    assert done.returncode == 2 and "SWITCHBOARD_JWT_SECRET" in done.stderr
    assert "distinct characters" in done.stderr and "Traceback" not in done.stderr


def test_the_dev_overlays_keys_and_placeholders_are_refused(tmp_path: Path) -> None:
    for value in [*FORMER_DEV_KEYS.values(), *dev_values()]:
        for setting in ("jwt_secret", "secret_pepper", "jwt_previous_keys"):
            values: dict[str, object] = {"jwt_secret": strong(), "secret_pepper": strong()}
            values[setting] = {"k0": value} if setting == "jwt_previous_keys" else value
            with pytest.raises(ValidationError, match="known"):
                image_settings(tmp_path, **values)
    done = run("auth", image_env(tmp_path, jwt_secret=strong(), secret_pepper=strong(),
                                 admin_password=FORMER_DEV_KEYS["admin-password"]))
    assert done.returncode == 2 and "SWITCHBOARD_ADMIN_PASSWORD" in done.stderr


def test_the_old_default_admin_password_stops_auth(tmp_path: Path) -> None:
    done = run("auth", image_env(tmp_path, jwt_secret=strong(), secret_pepper=strong(),
                                 admin_password=OLD_DEFAULTS["admin-password"]))
    assert done.returncode == 2 and "SWITCHBOARD_ADMIN_PASSWORD" in done.stderr


@pytest.mark.parametrize("password", ["change-me-now", "short", " " * 12, "an-example-pw"])
def test_weak_admin_passwords_are_refused(password: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="SWITCHBOARD_ADMIN_PASSWORD"):
        image_settings(tmp_path, jwt_secret=strong(), secret_pepper=strong(),
                       admin_password=password)


def test_a_local_environment_bound_beyond_loopback_is_refused(tmp_path: Path) -> None:
    done = run("gateway", image_env(tmp_path, environment="local"))
    assert done.returncode == 2
    assert "SWITCHBOARD_HOST=0.0.0.0 is not a loopback address" in done.stderr
    assert not (tmp_path / "secrets").exists(), "no key generated for a refused start"


def test_with_real_keys_the_image_serves(tmp_path: Path, nats_url: str) -> None:
    port = free_port()
    env = image_env(tmp_path, jwt_secret=strong(), secret_pepper=strong(), nats_url=nats_url,
                    host="127.0.0.1", gateway_port=str(port))
    proc = subprocess.Popen([sys.executable, "-m", "launcher", "service", "gateway"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else b""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/livez", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError("the gateway never answered /livez")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
