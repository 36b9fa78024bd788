"""What a NetworkPolicy lets through: "may reach" links from the allowed peers to the protected pods.

Kubernetes denies, to a pod selected by a policy of a given type, every
connection no policy allows; so the links listed here are all there is, and the
drawing says so next to the protected pods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubedefis.core.manifests import selects
from kubedefis.diagram.facts import describe_selector, name

Obj = dict[str, Any]
WorkloadKey = tuple[str, str]  # (kind, name)


@dataclass(frozen=True)
class Peer:
    """One end of an allowed connection.

    kind: workload (key set), namespace (a namespace or a selector of namespaces),
    cidr, any (no restriction), or unmatched (a pod selector that selects no workload).
    """

    kind: str
    text: str = ""
    key: WorkloadKey | None = None
    namespace: str | None = None  # for kind namespace, when one namespace is named


@dataclass(frozen=True)
class Reach:
    policy: str
    direction: str  # ingress: source may reach target; egress: target may reach source
    source: Peer
    target: Peer
    ports: str


@dataclass
class PolicyView:
    name: str
    selects: str
    protected: list[WorkloadKey]
    types: list[str]
    reaches: list[Reach] = field(default_factory=list)

    def denies(self, direction: str) -> bool:
        """Selected pods have this direction restricted (what is not listed is denied)."""
        return direction.capitalize() in self.types


def _ports(rule: Obj) -> str:
    ports = rule.get("ports") or []
    if not ports:
        return "all ports"
    return ", ".join(f"{p.get('protocol', 'TCP')} {p.get('port', 'any')}" for p in ports)


def _namespace_named(selector: Obj) -> str | None:
    """The one namespace a selector names through the automatic kubernetes.io/metadata.name label."""
    match = selector.get("matchLabels") or {}
    if list(match) == ["kubernetes.io/metadata.name"] and not selector.get("matchExpressions"):
        return str(match["kubernetes.io/metadata.name"])
    return None


def _peers(peer: Obj, own_namespace: str | None, workloads: dict[WorkloadKey, dict[str, str]]) -> list[Peer]:
    if peer.get("ipBlock"):
        block = peer["ipBlock"]
        text = block.get("cidr", "?") + (f" except {', '.join(block['except'])}" if block.get("except") else "")
        return [Peer("cidr", text)]
    ns_selector = peer.get("namespaceSelector")
    pod_selector = peer.get("podSelector")
    if ns_selector is not None:
        named = _namespace_named(ns_selector)
        if named is None or named != own_namespace:
            text = f"namespace {named}" if named else f"namespaces {describe_selector(ns_selector)}"
            if pod_selector:
                text += f", pods {describe_selector(pod_selector)}"
            return [Peer("namespace", text, namespace=named)]
    selector = pod_selector if pod_selector is not None else {}
    keys = [
        key for key, pod_labels in sorted(workloads.items()) if selects(selector, pod_labels, empty_selects_all=True)
    ]
    if not keys:
        return [Peer("unmatched", f"no pod matches {describe_selector(selector)}")]
    return [Peer("workload", key=key) for key in keys]


def analyse(policy: Obj, workloads: dict[WorkloadKey, dict[str, str]], own_namespace: str | None) -> PolicyView:
    """The policy's protected workloads and every link it allows (workloads: key → pod template labels)."""
    spec = policy.get("spec", {})
    selector = spec.get("podSelector") or {}
    protected = [
        key for key, pod_labels in sorted(workloads.items()) if selects(selector, pod_labels, empty_selects_all=True)
    ]
    types = list(spec.get("policyTypes") or (["Ingress", "Egress"] if "egress" in spec else ["Ingress"]))
    # an empty podSelector selects every pod of the namespace (a Service's empty selector, none)
    view = PolicyView(name(policy), describe_selector(selector) if selector else "all pods", protected, types)
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        if direction.capitalize() not in types:
            continue
        for rule in spec.get(direction) or []:
            peers = rule.get(peers_key)
            others = (
                [p for raw in peers for p in _peers(raw, own_namespace, workloads)]
                if peers
                else [Peer("any", "any pod or address")]
            )
            for key in protected:
                mine = Peer("workload", key=key)
                for other in others:
                    if other.key == key:
                        continue  # a workload talking to itself: not worth an arrow
                    source, target = (other, mine) if direction == "ingress" else (mine, other)
                    view.reaches.append(Reach(view.name, direction, source, target, _ports(rule)))
    return view
