"""Secrets are referenced, never inlined: prod renders none (it expects the documented
Secret to exist), dev generates one from dev-only placeholders; every secret setting
reaches a container through a secretKeyRef, and ConfigMaps hold none."""

from __future__ import annotations

import base64
import re

from kernel.keys import KEY_SIZES, weak_admin_password, weak_key
from launcher import natsauth
from tests.deploy.manifests import DEV_KEYS, K8S, Obj, all_containers, of_kind, render

SECRET_SETTING = re.compile(r"SECRET|PASSWORD|PEPPER|TOKEN|DATABASE_URL|PREVIOUS_KEYS")
CREDENTIALS_IN_URL = re.compile(r"://[^/\s:@]+:[^@\s]+@")
PROD_SECRET = "switchboard-secrets"
DEV = K8S / "overlays" / "dev"
PROD_REQUIRED_KEYS = {"jwt-secret", "secret-pepper", "database-url", "admin-password",
                      *(f"nats-{user}-password" for user in natsauth.USERS)}


def secret_refs(objects: tuple[Obj, ...]) -> set[tuple[str, str, bool]]:
    """(secret name, key, optional) of every secretKeyRef in every container."""
    refs = set()
    for _, c in all_containers(objects):
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                refs.add((ref["name"], ref["key"], bool(ref.get("optional", False))))
    return refs


def test_secret_settings_come_from_secret_refs_only(objects: tuple[Obj, ...]) -> None:
    for where, c in all_containers(objects):
        for e in c.get("env", []):
            if SECRET_SETTING.search(e["name"]):
                assert "value" not in e, (where, e["name"])
                assert "secretKeyRef" in e["valueFrom"], (where, e["name"])
        assert all("secretRef" not in src for src in c.get("envFrom", [])), where


def test_config_maps_hold_no_secret(objects: tuple[Obj, ...]) -> None:
    for cm in of_kind(objects, "ConfigMap").values():
        for key, value in cm.get("data", {}).items():
            assert not SECRET_SETTING.search(key), (cm["metadata"]["name"], key)
            assert not CREDENTIALS_IN_URL.search(value), (cm["metadata"]["name"], key)


def test_prod_inlines_no_secret_and_needs_only_the_documented_one() -> None:
    objects = render("prod")
    assert not of_kind(objects, "Secret")
    refs = secret_refs(objects)
    assert {name for name, _, _ in refs} == {PROD_SECRET}
    assert {key for _, key, optional in refs if not optional} == PROD_REQUIRED_KEYS


def test_dev_generates_its_secret_from_dev_only_placeholders_and_keys_of_its_own() -> None:
    objects = render("dev")
    secrets = of_kind(objects, "Secret")
    assert secrets, "dev generates its Secret"
    for name, secret in secrets.items():
        assert "stringData" not in secret, name
        for key, encoded in secret["data"].items():
            value = base64.b64decode(encoded).decode()
            if key in KEY_SIZES:  # generated (`make dev-keys`), and strong
                weak = weak_admin_password if key == "admin-password" else weak_key
                assert weak(value) is None, (name, key)
            else:
                assert "dev-only" in value, (name, key)
    assert DEV_KEYS in (DEV / "kustomization.yaml").read_text()
    assert not set(KEY_SIZES) & {line.split("=")[0] for line in
                                 (DEV / "secrets.dev.env").read_text().splitlines()}
    for name, key, optional in secret_refs(objects):
        assert optional or key in secrets[name]["data"], (name, key)
