"""Every pod the overlays run: probed, sized, pinned, non-root and locked down; the
Switchboard processes all run the one image with the service as its argument."""

from __future__ import annotations

import re

from tests.deploy.manifests import (
    APPS,
    SERVICES,
    Obj,
    all_containers,
    containers,
    of_kind,
    switchboard_config,
    workloads,
)

UNITS = {"": 1, "m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 1e3, "M": 1e6, "G": 1e9}


def quantity(text: str | int) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(text)).groups()  # type: ignore[union-attr]
    return float(number) * UNITS[unit]


def app_container(objects: tuple[Obj, ...], name: str) -> Obj:
    return containers(of_kind(objects, "Deployment")[name])[0]


def test_every_container_has_readiness_and_liveness_probes(objects: tuple[Obj, ...]) -> None:
    for where, c in all_containers(objects):
        assert c.get("readinessProbe") and c.get("livenessProbe"), where


def test_services_are_probed_by_grpc_health_on_their_own_port(objects: tuple[Obj, ...]) -> None:
    config = switchboard_config(objects)
    for name in SERVICES:
        port = int(config[f"SWITCHBOARD_{name.upper()}_ADDR"].rsplit(":", 1)[1])
        c = app_container(objects, name)
        assert port in [p["containerPort"] for p in c["ports"]], name
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert c[probe]["grpc"] == {"port": port}, (name, probe)


def test_the_gateway_is_ready_on_health_and_alive_on_livez(objects: tuple[Obj, ...]) -> None:
    c = app_container(objects, "gateway")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["http"] == int(switchboard_config(objects)["SWITCHBOARD_GATEWAY_PORT"])
    assert c["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}


def test_every_container_has_requests_within_limits(objects: tuple[Obj, ...]) -> None:
    for where, c in all_containers(objects):
        resources = c["resources"]
        for kind in ("cpu", "memory"):
            request, limit = resources["requests"][kind], resources["limits"][kind]
            assert 0 < quantity(request) <= quantity(limit), (where, kind)


def test_every_image_is_pinned_never_latest(objects: tuple[Obj, ...]) -> None:
    for where, c in all_containers(objects):
        image = c["image"]
        name, _, tag = image.partition("@")[0].rpartition(":")
        pinned = "@sha256:" in image or (name and "/" not in tag and tag != "latest")
        assert pinned and "latest" not in tag, (where, image)


def test_the_processes_run_one_image_chosen_by_argument(objects: tuple[Obj, ...]) -> None:
    images = set()
    for name in APPS:
        c = app_container(objects, name)
        assert "command" not in c, f"{name} must use the image's ENTRYPOINT (switchboard)"
        assert c["args"] == ["service", name]
        images.add(c["image"])
    assert len(images) == 1
    assert images.pop().startswith("registry.example.com/switchboard:")


def test_pods_run_as_non_root_and_locked_down(objects: tuple[Obj, ...]) -> None:
    for w in workloads(objects):
        pod = w["spec"]["template"]["spec"]
        where = w["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["runAsUser"] > 0, where
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert pod["automountServiceAccountToken"] is False, where
        for c in containers(w):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, (where, c["name"])
            assert sc["capabilities"] == {"drop": ["ALL"]}, (where, c["name"])
            assert sc["readOnlyRootFilesystem"] is True, (where, c["name"])
            assert not sc.get("privileged"), (where, c["name"])


def test_namespaces_enforce_the_restricted_pod_security_profile(
        objects: tuple[Obj, ...]) -> None:
    for ns in of_kind(objects, "Namespace").values():
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
