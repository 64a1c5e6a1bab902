"""NATS in the cluster needs a password: its config carries the users launcher/natsauth.py
renders, each password comes from the Secret into the nats pods and into the one
Deployment that uses it, and a real nats-server accepts the config and refuses strangers."""

from __future__ import annotations

import asyncio
import base64
import subprocess
from pathlib import Path

import nats
import pytest

from launcher import natsauth, natsserver
from tests.deploy.manifests import APPS, Obj, containers, env_of, of_kind, render

REGENERATE = "regenerate: python -m launcher.natsauth > deploy/k8s/base/nats/auth.conf"


def nats_files(objects: tuple[Obj, ...]) -> dict[str, str]:
    return next(dict(cm["data"]) for name, cm in of_kind(objects, "ConfigMap").items()
                if name.startswith("nats-config"))


def nats_password_keys(objects: tuple[Obj, ...]) -> dict[str, str]:
    """The nats container's variables read from the Secret, and their keys."""
    env = env_of(containers(of_kind(objects, "StatefulSet")["nats"])[0])
    return {name: e["valueFrom"]["secretKeyRef"]["key"] for name, e in env.items()
            if "secretKeyRef" in e.get("valueFrom", {})}


def test_the_nats_config_holds_the_generated_users(objects: tuple[Obj, ...]) -> None:
    files = nats_files(objects)
    assert "include ./auth.conf" in files["nats.conf"]
    assert files["auth.conf"] == natsauth.k8s_config(), REGENERATE
    assert "no_auth_user" not in files["nats.conf"] + files["auth.conf"]


def test_each_process_connects_as_its_own_nats_user(objects: tuple[Obj, ...]) -> None:
    keys = nats_password_keys(objects)
    assert set(keys) == {natsauth.env_name(user) for user in natsauth.USERS}
    for app in APPS:
        env = env_of(containers(of_kind(objects, "Deployment")[app])[0])
        assert env["SWITCHBOARD_NATS_USER"]["value"] == app
        ref = env["SWITCHBOARD_NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert ref["name"].startswith("switchboard-secrets")  # dev: with its hash
        assert ref["key"] == keys[natsauth.env_name(app)]
        assert not ref.get("optional")


def test_the_nats_server_accepts_the_config(objects: tuple[Obj, ...], tmp_path: Path) -> None:
    for name, text in nats_files(objects).items():
        (tmp_path / name).write_text(text)
    env = {"SERVER_NAME": "nats-0", **{n: "pw" for n in nats_password_keys(objects)}}
    checked = subprocess.run([natsserver.binary(), "-c", str(tmp_path / "nats.conf"), "-t"],
                             env=env, capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr


def test_dev_users_get_in_with_their_secret_and_strangers_do_not(tmp_path: Path) -> None:
    """The dev overlay's users, on a real nats-server: in with the Secret's password, out
    without one."""
    objects = render("dev")
    (tmp_path / "auth.conf").write_text(nats_files(objects)["auth.conf"])
    secret = next(iter(of_kind(objects, "Secret").values()))["data"]
    env = {n: base64.b64decode(secret[k]).decode()
           for n, k in nats_password_keys(objects).items()}
    port = natsserver.free_port()
    proc = subprocess.Popen(natsserver.command(port, tmp_path / "js", tmp_path / "auth.conf"),
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        natsserver.wait_for_port("127.0.0.1", port, 10, proc)
        asyncio.run(_only_users_get_in(f"nats://127.0.0.1:{port}",
                                       env["NATS_GATEWAY_PASSWORD"]))
    finally:
        proc.terminate()
        proc.wait(10)


async def _only_users_get_in(url: str, gateway_password: str) -> None:
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(url, allow_reconnect=False, connect_timeout=2)
    nc = await nats.connect(url, user="gateway", password=gateway_password,
                            allow_reconnect=False)
    await nc.close()


def test_services_count_in_the_gateways_bucket_only_with_user_tokens_open() -> None:
    counters = f"$KV.{natsauth.default_setting('rate_limit_bucket')}.>"

    def opened(name: str) -> object:
        return True if name == "grpc_user_tokens" else natsauth.default_setting(name)

    for user in ("auth", "billing", "messaging", "device"):
        assert counters not in natsauth.permissions(user).publish
        assert counters in natsauth.permissions(user, opened).publish
    assert counters in natsauth.permissions(natsauth.GATEWAY).publish
