"""Every object of every overlay is valid against the Kubernetes schemas, offline
(kubernetes-validate, strict: an unknown field is an error), on the oldest Kubernetes
the manifests support (1.30: native gRPC probes, NetworkPolicy endPort) and the newest
the validator knows."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest

from tests.deploy.manifests import Obj, of_kind

VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_object_is_valid(objects: tuple[Obj, ...], version: str) -> None:
    errors = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message}")
    assert not errors, "\n".join(errors)


def test_the_validator_refuses_a_broken_deployment(objects: tuple[Obj, ...]) -> None:
    """The check above is live: a typo'd field and a wrong type are both caught."""
    broken = copy.deepcopy(of_kind(objects, "Deployment")["gateway"])
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbes"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)
    wrong_type = copy.deepcopy(of_kind(objects, "Deployment")["gateway"])
    wrong_type["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "x"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong_type, VERSIONS[-1], strict=True)


def test_each_overlay_renders_the_whole_stack(objects: tuple[Obj, ...]) -> None:
    assert set(of_kind(objects, "Deployment")) == {"auth", "billing", "messaging", "device",
                                                   "gateway"}
    assert "nats" in of_kind(objects, "StatefulSet")
    assert {"nats", "nats-headless", "gateway", "auth", "billing", "messaging",
            "device"} <= set(of_kind(objects, "Service"))
    namespaces = {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"}
    assert len(namespaces) == 1 and None not in namespaces
    assert set(of_kind(objects, "Namespace")) == namespaces
