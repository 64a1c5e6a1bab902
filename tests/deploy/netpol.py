"""A small evaluator of Kubernetes NetworkPolicy ingress rules: may a peer pod reach a
target pod on a TCP port? Follows the API's semantics for what the manifests use:
policies selecting the target add up; a rule admits if one of its peers matches and one
of its ports covers the port (with endPort); no policy selecting the target admits all."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Labels = dict[str, str]


@dataclass(frozen=True)
class Pod:
    labels: Labels
    namespace: str
    namespace_labels: Labels = field(default_factory=dict)

    def ns_labels(self) -> Labels:
        return {"kubernetes.io/metadata.name": self.namespace, **self.namespace_labels}


def selects(selector: dict[str, Any], labels: Labels) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        value, op = labels.get(expr["key"]), expr["operator"]
        ok = {"In": value in expr.get("values", []),
              "NotIn": value not in expr.get("values", []),
              "Exists": value is not None, "DoesNotExist": value is None}[op]
        if not ok:
            return False
    return True


def _peer_matches(peer: dict[str, Any], source: Pod, policy_ns: str) -> bool:
    if "ipBlock" in peer:
        return False
    ns_ok = (selects(peer["namespaceSelector"], source.ns_labels())
             if "namespaceSelector" in peer else source.namespace == policy_ns)
    pod_ok = selects(peer["podSelector"], source.labels) if "podSelector" in peer else True
    return ns_ok and pod_ok


def _port_matches(rule_ports: list[dict[str, Any]], port: int) -> bool:
    if not rule_ports:
        return True
    for p in rule_ports:
        if p.get("protocol", "TCP") != "TCP":
            continue
        if "port" not in p or p["port"] <= port <= p.get("endPort", p["port"]):
            return True
    return False


def admits(policies: list[dict[str, Any]], target: Pod, port: int, source: Pod) -> bool:
    selecting = [p for p in policies if p["metadata"]["namespace"] == target.namespace
                 and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
                 and selects(p["spec"]["podSelector"], target.labels)]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            peers = rule.get("from", [])
            peer_ok = not peers or any(_peer_matches(peer, source, policy["metadata"]["namespace"])
                                       for peer in peers)
            if peer_ok and _port_matches(rule.get("ports", []), port):
                return True
    return False
