"""What each Switchboard container is given is a configuration the real Settings accept,
pointing at Services that exist; streams get 3 replicas in prod and 1 in dev."""

from __future__ import annotations

import base64
import os
import secrets

import pytest

from launcher.settings import PROCESS_SETTINGS
from tests.deploy.manifests import (
    APPS,
    SERVICES,
    Obj,
    containers,
    of_kind,
    render,
    switchboard_config,
)

# prod's Secret is created outside the manifests: stand-ins of the right shape (keys:
# random, as the processes refuse weak ones)
PROD_STAND_INS = {"database-url": "postgresql://switchboard:pw@db.internal:5432/switchboard"}


def container_env(objects: tuple[Obj, ...], app: str) -> dict[str, str]:
    """The environment Kubernetes would give the app's container."""
    c = containers(of_kind(objects, "Deployment")[app])[0]
    env: dict[str, str] = {}
    if any("configMapRef" in source for source in c.get("envFrom", [])):
        env.update(switchboard_config(objects))
    generated = of_kind(objects, "Secret")
    for e in c.get("env", []):
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if "value" in e:
            env[e["name"]] = e["value"]
        elif "fieldRef" in e.get("valueFrom", {}):
            env[e["name"]] = f"{app}-pod"
        elif ref["name"] in generated:
            data = generated[ref["name"]]["data"]
            if ref["key"] in data:
                env[e["name"]] = base64.b64decode(data[ref["key"]]).decode()
        elif not ref.get("optional"):
            env[e["name"]] = PROD_STAND_INS.get(ref["key"], secrets.token_urlsafe(32))
    return env


@pytest.mark.parametrize("app", APPS)
def test_each_process_accepts_its_environment(objects: tuple[Obj, ...], app: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    env = container_env(objects, app)
    assert env["SWITCHBOARD_ENVIRONMENT"] != "local"
    for name in [k for k in os.environ if k.startswith("SWITCHBOARD_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = PROCESS_SETTINGS[app]()  # refuses placeholder or weak secrets outside local
    assert settings.host == "0.0.0.0"
    assert settings.metrics_port == 9090
    if app != "gateway":
        assert settings.database_url.startswith("postgresql://")


def test_service_addresses_and_urls_name_existing_services(objects: tuple[Obj, ...]) -> None:
    config = switchboard_config(objects)
    services = of_kind(objects, "Service")
    deployments = of_kind(objects, "Deployment")
    for name in SERVICES:
        host, port = config[f"SWITCHBOARD_{name.upper()}_ADDR"].rsplit(":", 1)
        service = services[host]
        assert int(port) in [p["port"] for p in service["spec"]["ports"]], name
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items(), name
    nats_host, nats_port = config["SWITCHBOARD_NATS_URL"].removeprefix("nats://").split(":")
    assert int(nats_port) in [p["port"] for p in services[nats_host]["spec"]["ports"]]


def test_prod_streams_have_three_replicas_dev_one() -> None:
    assert switchboard_config(render("prod"))["SWITCHBOARD_STREAM_REPLICAS"] == "3"
    assert switchboard_config(render("dev"))["SWITCHBOARD_STREAM_REPLICAS"] == "1"


def test_nats_is_a_three_node_jetstream_cluster_on_volumes(objects: tuple[Obj, ...]) -> None:
    nats = of_kind(objects, "StatefulSet")["nats"]
    replicas = int(switchboard_config(objects)["SWITCHBOARD_STREAM_REPLICAS"])
    assert nats["spec"]["replicas"] == 3 >= replicas
    claims = [t["metadata"]["name"] for t in nats["spec"]["volumeClaimTemplates"]]
    mounts = {m["name"]: m["mountPath"] for m in containers(nats)[0]["volumeMounts"]}
    conf = next(cm["data"]["nats.conf"] for name, cm in of_kind(objects, "ConfigMap").items()
                if name.startswith("nats-config"))
    assert claims == ["data"] and f"store_dir: {mounts['data']}/jetstream" in conf
    headless = nats["spec"]["serviceName"]
    assert of_kind(objects, "Service")[headless]["spec"]["clusterIP"] == "None"
    for n in range(3):
        assert f"nats://nats-{n}.{headless}:6222" in conf


def test_postgres_runs_in_dev_only_and_the_dev_url_points_at_it() -> None:
    dev, prod = render("dev"), render("prod")
    assert "postgres" in of_kind(dev, "StatefulSet")
    assert "postgres" not in of_kind(prod, "StatefulSet")
    assert "postgres" not in of_kind(prod, "Service")
    url = container_env(dev, "auth")["SWITCHBOARD_DATABASE_URL"]
    assert "@postgres:5432/" in url and "postgres" in of_kind(dev, "Service")
