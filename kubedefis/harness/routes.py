"""Who answers a path through the Ingress, found from the objects, never from what the site says about itself.

An Ingress rule (host, path, pathType) names a backend Service; the Service's EndpointSlices name
the pods behind it, by IP. The same matcher reads a hand-in's Ingress (static tier) and the live
ones (as dicts, `manifests.live`), so a route is judged the same way in both tiers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubedefis.core.manifests import Obj, live, name_of, selects
from kubedefis.harness.cluster import ClusterHandle


@dataclass(frozen=True)
class Route:
    """The Ingress rule that serves a host and path, and its backend."""

    ingress: str  # Ingress/<name>
    host: str  # the rule's host ("" for a rule without host, or the default backend)
    path: str  # the rule's path ("" for the default backend)
    path_type: str
    service: str | None  # None: a resource backend, not a Service
    port: int | str | None

    def __str__(self) -> str:
        where = f"{self.host or '*'}{self.path or ' (default backend)'} ({self.path_type})"
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.ingress} {where} -> Service {self.service}{port}"


def _host_matches(rule_host: str | None, host: str) -> bool:
    if not rule_host:
        return True
    if rule_host.startswith("*."):  # a wildcard covers exactly one more DNS label
        head, _, rest = host.partition(".")
        return bool(head) and rest == rule_host[2:]
    return rule_host == host


def _path_matches(path_type: str, rule_path: str, path: str) -> bool:
    """Kubernetes' path semantics: Exact is the path itself; Prefix matches whole path elements.

    ImplementationSpecific is read as Prefix (what Traefik and ingress-nginx do without regexes).
    """
    if path_type == "Exact":
        return path == rule_path
    prefix = rule_path.rstrip("/")
    return not prefix or path == prefix or path.startswith(prefix + "/")


def _backend(backend: Obj | None) -> tuple[str | None, int | str | None]:
    service = (backend or {}).get("service") or {}
    port = service.get("port") or {}
    return service.get("name"), port.get("number", port.get("name"))


def match(ingresses: list[Obj], host: str, path: str) -> Route | None:
    """The rule serving host+path among these Ingress objects (dicts), or the default backend; None if none.

    As the API defines it: a rule naming the host wins over a hostless one (exact host over a
    wildcard), then the longest matching path, Exact before Prefix at equal length.
    """
    request_path = path.split("?", 1)[0] or "/"
    best: tuple[tuple[int, int, int], Route] | None = None
    for ing in ingresses:
        for rule in (ing.get("spec") or {}).get("rules") or []:
            rule_host = rule.get("host") or ""
            if not _host_matches(rule_host, host):
                continue
            host_rank = 2 if rule_host == host else (1 if rule_host else 0)
            for p in (rule.get("http") or {}).get("paths") or []:
                rule_path = p.get("path") or "/"
                path_type = p.get("pathType") or "ImplementationSpecific"
                if not _path_matches(path_type, rule_path, request_path):
                    continue
                rank = (host_rank, len(rule_path.rstrip("/")), 1 if path_type == "Exact" else 0)
                service, port = _backend(p.get("backend"))
                route = Route(name_of(ing), rule_host, rule_path, path_type, service, port)
                if best is None or rank > best[0]:
                    best = (rank, route)
    if best is not None:
        return best[1]
    for ing in ingresses:
        default = (ing.get("spec") or {}).get("defaultBackend")
        if default:
            service, port = _backend(default)
            return Route(name_of(ing), "", "", "defaultBackend", service, port)
    return None


@dataclass(frozen=True)
class Endpoint:
    ip: str
    pod: str | None  # the pod the EndpointSlice names (targetRef), when it names one
    ready: bool


def endpoints(cluster: ClusterHandle, namespace: str, service: str) -> list[Endpoint]:
    """The addresses behind a Service, from its EndpointSlices (what kube-proxy and the controllers use)."""
    slices = cluster.kube.discovery.list_namespaced_endpoint_slice(
        namespace, label_selector=f"kubernetes.io/service-name={service}"
    ).items
    found: list[Endpoint] = []
    for s in slices:
        for e in s.endpoints or []:
            ready = bool(e.conditions and e.conditions.ready)
            ref = e.target_ref
            pod = ref.name if ref is not None and ref.kind == "Pod" else None
            found.extend(Endpoint(address, pod, ready) for address in e.addresses or [])
    return found


def live_ingresses(cluster: ClusterHandle, namespace: str) -> list[dict[str, Any]]:
    """The namespace's Ingress objects as dicts (the shape `match` reads)."""
    items = cluster.kube.networking.list_namespaced_ingress(namespace).items
    return [live(i) for i in items]


def workloads_behind(cluster: ClusterHandle, namespace: str, service: str) -> list[str]:
    """The Deployments and StatefulSets whose pods a Service selects (`Kind/name`)."""
    svc = cluster.kube.core.read_namespaced_service(service, namespace)
    selector = svc.spec.selector or {}
    found = []
    for kind, lister in (
        ("Deployment", cluster.kube.apps.list_namespaced_deployment),
        ("StatefulSet", cluster.kube.apps.list_namespaced_stateful_set),
    ):
        for obj in lister(namespace).items:
            if selects(selector, obj.spec.template.metadata.labels or {}):
                found.append(f"{kind}/{obj.metadata.name}")
    return found
