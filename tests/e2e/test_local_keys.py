"""Keys, accounts and defaults of the stack as `make run` starts it (issue 12, item 1 and
the low findings): no constant key signs anything, `switchboard up` generates its keys
and the admin password on first start, keeps them owner-only under var/ and reuses them;
the password is shown on first start only; /metrics can move off the public port."""

from __future__ import annotations

import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import jwt
import pytest

from launcher.natsserver import free_port
from switchboard.billing.v1 import billing_pb2, billing_pb2_grpc
from tests.support.stack import Stack, start_stack

pytestmark = pytest.mark.e2e

# The constants the source used to sign with: what an attacker of the old image knew.
OLD_JWT_SECRET = "local-development-only-jwt-secret-not-for-production"
OLD_ADMIN = ("admin", "switchboard-admin")


def banner(stack: Stack) -> str:
    """What `switchboard up` printed once healthy, up to its last line."""
    assert stack.proc.stdout is not None
    lines: list[str] = []
    while not lines or "Press Ctrl-C" not in lines[-1]:
        line = stack.proc.stdout.readline()
        assert line, "".join(lines)
        lines.append(line)
    return "".join(lines)


def forged(claims: dict[str, object], secret: str = OLD_JWT_SECRET) -> str:
    now = int(time.time())
    return jwt.encode({**claims, "iss": "switchboard-auth", "iat": now, "exp": now + 3600},
                      secret, algorithm="HS256", headers={"kid": "k1"})


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def first(var_dir: Path, metrics_port: int) -> Iterator[tuple[Stack, str]]:
    running = start_stack(var_dir, gateway_metrics_port=str(metrics_port))
    try:
        running.wait_healthy()
        yield running, banner(running)
    finally:
        assert running.stop() == 0


def admin_password(printed: str) -> str:
    line = next(line for line in printed.splitlines() if "Admin login:" in line)
    return line.split("/", 1)[1].split()[0]


def test_the_old_constant_key_forges_nothing_and_the_generated_one_works(
        first: tuple[Stack, str]) -> None:
    stack, printed = first
    api = httpx.Client(base_url=stack.url, timeout=10)
    fake_admin = forged({"sub": "1", "username": "admin", "adm": True})
    refused = api.get("/api/admin/users", headers={"Authorization": f"Bearer {fake_admin}"})
    assert refused.status_code == 401 and refused.json()["error"] == "UNAUTHORIZED"
    assert api.post("/api/auth/login", json=dict(zip(("username", "password"), OLD_ADMIN,
                                                     strict=True))).status_code == 401
    session = api.post("/api/auth/login",
                       json={"username": "admin", "password": admin_password(printed)})
    assert session.status_code == 200 and session.json()["is_admin"] is True
    users = api.get("/api/admin/users",
                    headers={"Authorization": f"Bearer {session.json()['access_token']}"})
    assert users.status_code == 200


async def test_a_service_token_of_the_old_constant_grants_no_credits(
        first: tuple[Stack, str]) -> None:
    stack, _ = first
    token = forged({"sub": "svc:gateway", "svc": "gateway"})
    async with grpc.aio.insecure_channel(stack.env["SWITCHBOARD_BILLING_ADDR"]) as chan:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await billing_pb2_grpc.BillingServiceStub(chan).GrantCredits(
                billing_pb2.GrantCreditsRequest(user_id=1, amount=10_000_000, reason="forged"),
                metadata=[("authorization", f"Bearer {token}")], timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_keys_and_the_admin_password_are_generated_private_and_kept(
        first: tuple[Stack, str], var_dir: Path) -> None:
    stack, printed = first
    secrets = var_dir / "secrets"
    for name in ("jwt-secret", "secret-pepper", "admin-password"):
        assert len((secrets / name).read_text().strip()) >= 24, name
    assert (secrets / "admin-password").read_text().strip() == admin_password(printed)
    assert OLD_JWT_SECRET not in (secrets / "jwt-secret").read_text()
    assert "shown this once" in printed


def test_everything_under_var_is_owner_only(first: tuple[Stack, str], var_dir: Path) -> None:
    stack, _ = first
    httpx.get(f"{stack.url}/health", timeout=10)
    found = [var_dir, *var_dir.rglob("*")]
    assert any(p.name == "auth.db" for p in found) and any(p.suffix == ".log" for p in found)
    for path in found:
        if path.is_symlink():
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is mode {mode:o}"


def test_metrics_are_on_their_own_port_only(first: tuple[Stack, str], metrics_port: int) -> None:
    stack, _ = first
    assert httpx.get(f"{stack.url}/metrics", timeout=10).status_code == 404
    own = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
    assert own.status_code == 200 and "switchboard_http_requests_total" in own.text


def test_the_operator_cli_registers_a_user_on_the_running_stack(
        first: tuple[Stack, str]) -> None:
    """`switchboard user create` loads its gRPC client only for the task (the process `up`
    leaves supervising the stack holds none), and its user can sign in."""
    stack, _ = first
    done = subprocess.run([sys.executable, "-m", "launcher", "user", "create", "--username",
                           "operator1", "--password-stdin"], input="operator-password-1\n",
                          env=stack.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "user operator1 (user_id" in done.stdout, done.stderr
    session = httpx.post(f"{stack.url}/api/auth/login", timeout=10,
                         json={"username": "operator1", "password": "operator-password-1"})
    assert session.status_code == 200 and session.json()["is_admin"] is False


def test_a_second_start_reuses_the_keys_and_does_not_print_the_password(
        tmp_path: Path) -> None:
    once = start_stack(tmp_path)
    try:
        once.wait_healthy()
        password = admin_password(banner(once))
    finally:
        assert once.stop() == 0
    kept = {p.name: p.read_text() for p in (tmp_path / "secrets").iterdir()}
    again = start_stack(tmp_path)
    try:
        again.wait_healthy()
        later = banner(again)
        assert password not in later and "password kept in" in later
        assert {p.name: p.read_text() for p in (tmp_path / "secrets").iterdir()} == kept
        session = httpx.post(f"{again.url}/api/auth/login", timeout=10,
                             json={"username": "admin", "password": password})
        assert session.status_code == 200 and session.json()["is_admin"] is True
    finally:
        assert again.stop() == 0
