"""Requirement checks on Kubernetes objects, as plain dicts.

The same functions grade rendered manifests (the static tier, before any
cluster) and live objects read from the API (`live()` converts them), so a
requirement is written once. Each check returns Findings: what was expected,
what was found, and where; an empty list means the requirement holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from kubedefis.core.findings import Finding
from kubedefis.core.manifests import Obj, containers, name_of, quantity, selects


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


def env_value(
    container: Obj,
    name: str,
    configmap_data: Callable[[str], dict[str, str] | None],
    secret_data: Callable[[str], dict[str, str] | None] | None = None,
) -> str | None:
    """The value a container gets for an environment variable, when its spec says it.

    A literal, a ConfigMap's key, or (given `secret_data`, decoded) a Secret's; None when it
    comes from elsewhere (the downward API, a Secret not read) or nowhere. As Kubernetes does, a
    later envFrom wins over an earlier one and `env` over envFrom.
    """
    sources = {"configMapRef": configmap_data, "secretRef": secret_data}
    value = None
    for env_from in container.get("envFrom") or []:
        prefix = env_from.get("prefix") or ""
        for key, read in sources.items():
            ref = env_from.get(key)
            if ref and read and name.startswith(prefix):
                data = read(ref.get("name", "")) or {}
                if name[len(prefix) :] in data:
                    value = data[name[len(prefix) :]]
    key_sources = {"configMapKeyRef": configmap_data, "secretKeyRef": secret_data}
    for env in container.get("env") or []:
        if env.get("name") != name:
            continue
        value_from = env.get("valueFrom") or {}
        if "value" in env or not value_from:
            value = env.get("value", "")
            continue
        value = None
        for key, read in key_sources.items():
            ref = value_from.get(key)
            if ref and read:
                value = (read(ref.get("name", "")) or {}).get(ref.get("key", ""))
    return value


def names_service(host: str, service: str, namespace: str | None = None) -> bool:
    """Whether a DNS name reaches a Service: `svc`, `svc.ns[.svc[.cluster.local]]`, or a pod's `pod.svc...`."""
    labels = host.strip().rstrip(".").split(".")
    for start in (0, 1):  # the Service itself, or one of its pods (a headless Service's records)
        rest = labels[start + 1 :]
        if len(labels) > start and labels[start] == service and (not rest or namespace is None or rest[0] == namespace):
            return True
    return False
