"""Requirement checks on Kubernetes objects, as plain dicts.

The same functions grade rendered manifests (the static tier, before any
cluster) and live objects read from the API (`live()` converts them), so a
requirement is written once. Each check returns Findings: what was expected,
what was found, and where; an empty list means the requirement holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.utils.quantity import parse_quantity

Obj = dict[str, Any]
_SERIALIZER = ApiClient()


@dataclass(frozen=True)
class Finding:
    where: str
    expected: str
    found: str

    def __str__(self) -> str:
        return f"{self.where}: expected {self.expected}, found {self.found}"


class RequirementFailed(AssertionError):
    def __init__(self, requirement: str, findings: list[Finding]) -> None:
        self.requirement = requirement
        self.findings = findings
        lines = "\n".join(f"  - {f}" for f in findings)
        super().__init__(f"{requirement}:\n{lines}")


def require(requirement: str, findings: Iterable[Finding]) -> None:
    """Fail with every finding listed (expected / found), or pass when there is none."""
    found = list(findings)
    if found:
        raise RequirementFailed(requirement, found)


def live(obj: Any) -> Obj:
    """A kubernetes-client model as the dict a manifest would be (camelCase keys).

    Items of a list come without `kind`: it is taken from the model's class (V1Pod -> Pod).
    """
    data = _SERIALIZER.sanitize_for_serialization(obj)
    if isinstance(data, dict) and "kind" not in data:
        name = type(obj).__name__
        data["kind"] = name[2:] if name.startswith("V1") else name
    return data


def name_of(obj: Obj) -> str:
    return f"{obj.get('kind', '?')}/{obj.get('metadata', {}).get('name', '?')}"


def pod_spec(obj: Obj) -> Obj:
    """The pod spec of a Pod, a workload (Deployment, StatefulSet, DaemonSet, Job) or a CronJob."""
    kind = obj.get("kind")
    if kind == "Pod":
        return obj.get("spec", {})
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj.get("spec", {}).get("template", {}).get("spec", {})


def containers(obj: Obj, init: bool = False) -> list[Obj]:
    spec = pod_spec(obj)
    return list(spec.get("containers") or []) + (list(spec.get("initContainers") or []) if init else [])


def quantity(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return parse_quantity(value)
    except ValueError:
        return None


def pod_labels_match(obj: Obj, selector: str) -> bool:
    """Whether a workload's pod template (or a Pod) carries every label of `k=v,k2=v2`."""
    labels = (
        obj.get("metadata", {})
        if obj.get("kind") == "Pod"
        else obj.get("spec", {}).get("template", {}).get("metadata", {})
    ).get("labels") or {}
    pairs = [p.split("=", 1) for p in selector.split(",") if p]
    return all(labels.get(k) == v for k, v in pairs)


def replicas(obj: Obj, expected: int) -> list[Finding]:
    found = obj.get("spec", {}).get("replicas", 1)
    return [] if found == expected else [Finding(name_of(obj), f"{expected} replicas", f"{found}")]


def _quantity_matches(found: Any, expected: str, tolerance: Decimal) -> bool:
    want, got = quantity(expected), quantity(found)
    if want is None or got is None:
        return False
    return abs(got - want) <= want * tolerance


def resources(
    obj: Obj, requests: dict[str, str], limits: dict[str, str], tolerance: Decimal = Decimal("0.05")
) -> list[Finding]:
    """Every container requests and is limited to the given amounts.

    The tolerance accepts "100M" where "100Mi" is asked (the course writes "100 Mo").
    """
    findings = []
    for container in containers(obj):
        res = container.get("resources") or {}
        where = f"{name_of(obj)} container {container.get('name')}"
        for section, wanted in (("requests", requests), ("limits", limits)):
            have = res.get(section) or {}
            for resource, amount in wanted.items():
                if not _quantity_matches(have.get(resource), amount, tolerance):
                    findings.append(
                        Finding(where, f"{section}.{resource} = {amount}", str(have.get(resource, "nothing")))
                    )
    return findings or ([] if containers(obj) else [Finding(name_of(obj), "containers", "none")])


def service_type(svc: Obj, expected: str) -> list[Finding]:
    found = svc.get("spec", {}).get("type", "ClusterIP")
    return [] if found == expected else [Finding(name_of(svc), f"type {expected}", found)]


def selects(selector: dict[str, str] | None, labels: dict[str, str] | None) -> bool:
    return bool(selector) and all((labels or {}).get(k) == v for k, v in (selector or {}).items())


def label_selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Kubernetes LabelSelector semantics (matchLabels and matchExpressions) on a set of labels."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }.get(op, False)
        if not ok:
            return False
    return True


def service_routes_to(svc: Obj, workload: Obj) -> list[Finding]:
    """The Service selects the workload's pods and targets a port their containers expose."""
    labels = workload.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})
    selector = svc.get("spec", {}).get("selector")
    findings = []
    if not selects(selector, labels):
        findings.append(
            Finding(name_of(svc), f"a selector matching the pods of {name_of(workload)} ({labels})", str(selector))
        )
    exposed: set[Any] = set()
    for container in containers(workload):
        for port in container.get("ports") or []:
            exposed.add(port.get("containerPort"))
            if port.get("name"):
                exposed.add(port["name"])
    for port in svc.get("spec", {}).get("ports") or []:
        target = port.get("targetPort", port.get("port"))
        if exposed and target not in exposed:
            findings.append(
                Finding(name_of(svc), f"targetPort among the container ports {sorted(map(str, exposed))}", str(target))
            )
    return findings


def ready_probe_kinds(container: Obj) -> dict[str, str | None]:
    """The handler type (httpGet, exec, tcpSocket, grpc) of each probe of a container."""
    kinds: dict[str, str | None] = {}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        spec = container.get(probe)
        kinds[probe] = next((k for k in ("httpGet", "exec", "tcpSocket", "grpc") if spec and k in spec), None)
    return kinds
