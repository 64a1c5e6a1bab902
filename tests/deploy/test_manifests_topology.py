"""Availability and reach: every Deployment has a PodDisruptionBudget, the gateway and
messaging scale on HPAs, device runs two replicas in prod, NetworkPolicies let only the
gateway and the services reach each other (and NATS, PostgreSQL), and the Ingress
publishes the REST APIs alone."""

from __future__ import annotations

import pytest

from tests.deploy.manifests import Obj, containers, of_kind, render, switchboard_config
from tests.deploy.netpol import Pod, admits

INGRESS_NS = "ingress-nginx"
MONITORING_NS = "monitoring"


def pod_labels(objects: tuple[Obj, ...], kind: str, name: str) -> dict[str, str]:
    return dict(of_kind(objects, kind)[name]["spec"]["template"]["metadata"]["labels"])


def test_every_deployment_and_nats_have_a_pdb(objects: tuple[Obj, ...]) -> None:
    pdbs = list(of_kind(objects, "PodDisruptionBudget").values())
    targets = [("Deployment", n) for n in of_kind(objects, "Deployment")] + [
        ("StatefulSet", "nats")]
    for kind, name in targets:
        labels = pod_labels(objects, kind, name)
        covering = [p for p in pdbs
                    if p["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(covering) == 1, (kind, name)
        assert covering[0]["spec"].get("maxUnavailable") == 1, (kind, name)


def test_gateway_and_messaging_scale_on_hpas(objects: tuple[Obj, ...], overlay: str) -> None:
    hpas = of_kind(objects, "HorizontalPodAutoscaler")
    deployments = of_kind(objects, "Deployment")
    assert {h["spec"]["scaleTargetRef"]["name"] for h in hpas.values()} == {"gateway",
                                                                            "messaging"}
    for hpa in hpas.values():
        target = deployments[hpa["spec"]["scaleTargetRef"]["name"]]
        assert "replicas" not in target["spec"], "the HPA owns the replica count"
        assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
        assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
        for c in containers(target):
            assert c["resources"]["requests"]["cpu"], "CPU utilisation needs a request"
        if overlay == "prod":
            assert hpa["spec"]["minReplicas"] >= 2


def test_device_runs_two_replicas_in_prod_one_in_dev() -> None:
    assert of_kind(render("prod"), "Deployment")["device"]["spec"]["replicas"] == 2
    assert of_kind(render("dev"), "Deployment")["device"]["spec"]["replicas"] == 1


def test_network_policies_admit_only_the_app(objects: tuple[Obj, ...]) -> None:
    policies = list(of_kind(objects, "NetworkPolicy").values())
    ns = policies[0]["metadata"]["namespace"]

    def pod(kind: str, name: str) -> Pod:
        return Pod(pod_labels(objects, kind, name), ns)

    gateway, auth = pod("Deployment", "gateway"), pod("Deployment", "auth")
    messaging, nats = pod("Deployment", "messaging"), pod("StatefulSet", "nats")
    stranger = Pod({"app": "debug-shell"}, ns)
    outsider = Pod(gateway.labels, "elsewhere")
    controller = Pod({"app.kubernetes.io/name": "ingress-nginx"}, INGRESS_NS)
    prometheus = Pod({"app": "prometheus"}, MONITORING_NS)
    assert admits(policies, auth, 50151, gateway)
    assert admits(policies, messaging, 50153, auth)
    assert admits(policies, gateway, 8080, controller)
    assert admits(policies, nats, 4222, messaging) and admits(policies, nats, 4222, gateway)
    assert admits(policies, nats, 6222, nats)
    assert admits(policies, auth, 9090, prometheus) and admits(policies, gateway, 8080,
                                                               prometheus)
    for source in (stranger, outsider, nats, controller):
        assert not admits(policies, auth, 50151, source), source
    for source in (stranger, outsider, controller):
        assert not admits(policies, nats, 4222, source), source
    for source in (stranger, outsider):
        assert not admits(policies, gateway, 8080, source), source
    assert not admits(policies, auth, 50151, prometheus)
    assert not admits(policies, nats, 6222, messaging)


def test_postgres_admits_the_services_only() -> None:
    objects = render("dev")
    policies = list(of_kind(objects, "NetworkPolicy").values())
    ns = policies[0]["metadata"]["namespace"]
    postgres = Pod(pod_labels(objects, "StatefulSet", "postgres"), ns)
    for name in ("auth", "billing", "messaging", "device"):
        assert admits(policies, postgres, 5432, Pod(pod_labels(objects, "Deployment", name), ns))
    assert not admits(policies, postgres, 5432, Pod(pod_labels(objects, "Deployment",
                                                               "gateway"), ns))
    assert not admits(policies, postgres, 5432, Pod({"app": "debug-shell"}, ns))


CLOUD_WEBHOOK = "/webhooks/whatsapp-cloud"


def public_paths(objects: tuple[Obj, ...]) -> list[Obj]:
    (ingress,) = of_kind(objects, "Ingress").values()
    return [p for r in ingress["spec"]["rules"] for p in r["http"]["paths"]]


@pytest.mark.parametrize("path", ["/api/messages/send-message", "/api/v1/whatsapp/send"])
def test_the_ingress_publishes_the_apis_to_the_gateway(objects: tuple[Obj, ...],
                                                       path: str) -> None:
    (ingress,) = of_kind(objects, "Ingress").values()
    rules = ingress["spec"]["rules"]
    paths = public_paths(objects)
    for p in paths:
        assert (p["path"], p["pathType"]) in {("/api", "Prefix"), (CLOUD_WEBHOOK, "Exact")}
    assert any(path.startswith(p["path"]) for p in paths)
    for p in paths:
        assert p["backend"]["service"] == {"name": "gateway", "port": {"name": "http"}}
    assert {h for t in ingress["spec"]["tls"] for h in t["hosts"]} == {r["host"] for r in rules}


def test_meta_reaches_the_cloud_webhook_in_prod_only() -> None:
    transport = {o: switchboard_config(render(o))["SWITCHBOARD_TRANSPORT"]
                 for o in ("dev", "prod")}
    assert transport == {"dev": "simulator", "prod": "cloud"}
    assert CLOUD_WEBHOOK in [p["path"] for p in public_paths(render("prod"))]
    assert CLOUD_WEBHOOK not in [p["path"] for p in public_paths(render("dev"))]


def test_internal_grpc_services_are_headless_for_per_call_balancing(
        objects: tuple[Obj, ...]) -> None:
    """A ClusterIP would pin each client's one HTTP/2 connection to one pod; headless
    Services let the channels' round robin spread calls over every replica."""
    services = of_kind(objects, "Service")
    config = switchboard_config(objects)
    for name, port in (("auth", 50151), ("billing", 50152), ("messaging", 50153),
                       ("device", 50154)):
        spec = services[name]["spec"]
        assert spec.get("clusterIP") == "None", name
        assert [p["port"] for p in spec["ports"]] == [port], name
        assert config[f"SWITCHBOARD_{name.upper()}_ADDR"] == f"{name}:{port}"
    assert services["gateway"]["spec"].get("clusterIP") != "None"  # behind the Ingress
