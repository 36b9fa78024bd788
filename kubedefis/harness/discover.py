"""Finding a stack's parts by what they are, not by what we named them: the same on our chart and a group's.

A component is found from the target (its pod selector or workload name), a Service by the pods it
selects, an endpoint by the pod behind it, a setting by where it points (a container's environment
resolved through the ConfigMaps and Secrets it reads). Rendered manifests and live objects
(`manifests.live`) are the same dicts here, so the static and the live tier share these.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

from kubedefis.core import manifests
from kubedefis.core.findings import Finding
from kubedefis.core.manifests import Obj
from kubedefis.harness.target import Target

WORKLOAD_KINDS = ("Deployment", "StatefulSet")
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"


# --- components -----------------------------------------------------------------------------------


def workloads(objects: list[Obj], target: Target, key: str, kinds: tuple[str, ...] = WORKLOAD_KINDS) -> list[Obj]:
    """The workloads (Deployments, StatefulSets) that are the target's component `key`."""
    component = target.component(key)
    return [
        o
        for o in objects
        if o.get("kind") in kinds and component.matches(o.get("metadata", {}).get("name", ""), manifests.pod_labels(o))
    ]


def component_findings(
    objects: list[Obj], target: Target, key: str, kinds: tuple[str, ...] = WORKLOAD_KINDS
) -> list[Finding]:
    """A finding when the component is not exactly one workload (expected / found, named by the target)."""
    found = workloads(objects, target, key, kinds)
    if len(found) == 1:
        return []
    component = target.component(key)
    how = f"name {component.name}" if component.name else f"pods labelled {component.selector}"
    names = [manifests.name_of(o) for o in found] or "none"
    return [Finding(f"the {key} component", f"one {' or '.join(kinds)} with {how}", str(names))]


def statefulset_pods(sts: Obj) -> list[dict[str, str]]:
    """The labels each pod of a StatefulSet gets (its template's, plus the pod-name label of its ordinal)."""
    labels = manifests.pod_labels(sts)
    if sts.get("kind") != "StatefulSet":
        return [labels]
    count = (sts.get("spec") or {}).get("replicas", 1)
    name = sts["metadata"]["name"]
    return [{**labels, POD_NAME_LABEL: f"{name}-{i}"} for i in range(max(count or 0, 1))]


def services_selecting(objects: list[Obj], pods: list[dict[str, str]], *, headless: bool | None = False) -> list[Obj]:
    """Services whose selector selects at least one of these pods (ClusterIP ones, headless, or both: None)."""
    found = []
    for svc in objects:
        if svc.get("kind") != "Service":
            continue
        is_headless = (svc.get("spec") or {}).get("clusterIP") == "None"
        if headless is not None and is_headless != headless:
            continue
        selector = (svc.get("spec") or {}).get("selector")
        if any(manifests.selects(selector, labels) for labels in pods):
            found.append(svc)
    return found


def selects_all(svc: Obj, pods: list[dict[str, str]]) -> bool:
    selector = (svc.get("spec") or {}).get("selector")
    return bool(pods) and all(manifests.selects(selector, labels) for labels in pods)


def selects_any(svc: Obj, pods: list[dict[str, str]]) -> bool:
    selector = (svc.get("spec") or {}).get("selector")
    return any(manifests.selects(selector, labels) for labels in pods)


@dataclass(frozen=True)
class Split:
    """The Services of a primary/replicas database: writes to the primary only, reads to the replicas only."""

    write: list[Obj]
    read: list[Obj]

    def findings(self, primary: str, replica: str) -> list[Finding]:
        findings = []
        if not self.write:
            findings.append(
                Finding("Services", f"a ClusterIP Service selecting every pod of {primary} and no replica", "none")
            )
        if not self.read:
            findings.append(
                Finding("Services", f"a ClusterIP Service selecting every pod of {replica} and not the primary", "none")
            )
        return findings


def write_read_services(objects: list[Obj], primary: Obj, replica: Obj) -> Split:
    """The Services that route to the primary only and those that route to the replicas only."""
    primary_pods, replica_pods = statefulset_pods(primary), statefulset_pods(replica)
    services = [o for o in objects if o.get("kind") == "Service" and (o.get("spec") or {}).get("clusterIP") != "None"]
    write = [s for s in services if selects_all(s, primary_pods) and not selects_any(s, replica_pods)]
    read = [s for s in services if selects_all(s, replica_pods) and not selects_any(s, primary_pods)]
    return Split(write, read)


def governing_findings(objects: list[Obj], sts: Obj) -> list[Finding]:
    """A StatefulSet's serviceName names a headless Service that selects its pods."""
    name = (sts.get("spec") or {}).get("serviceName")
    governing = manifests.find(objects, "Service", name) if name else []
    if governing and (governing[0].get("spec") or {}).get("clusterIP") == "None":
        if selects_all(governing[0], statefulset_pods(sts)):
            return []
        return [Finding(manifests.name_of(sts), f"the headless Service {name} selects its pods", "it does not")]
    return [Finding(manifests.name_of(sts), "a headless governing Service (serviceName)", str(name or "none"))]


# --- settings: a container's environment, resolved -------------------------------------------------


@dataclass(frozen=True)
class EnvValue:
    value: str | None  # None: not resolvable here (a field, a resource, an object not rendered)
    source: str  # literal | configmap | secret | field | resource | missing


def _data(obj: Obj) -> dict[str, str]:
    """A ConfigMap's or Secret's data as text (a Secret's base64 decoded, stringData included)."""
    out: dict[str, str] = {}
    if obj.get("kind") == "Secret":
        for key, value in (obj.get("data") or {}).items():
            try:
                out[key] = base64.b64decode(str(value)).decode(errors="replace")
            except ValueError:
                out[key] = str(value)
        out.update({k: str(v) for k, v in (obj.get("stringData") or {}).items()})
        return out
    return {k: str(v) for k, v in (obj.get("data") or {}).items()}


def _named(objects: list[Obj], kind: str, name: str | None) -> Obj | None:
    return next(iter(manifests.find(objects, kind, name)), None) if name else None


def env_of(objects: list[Obj], container: Obj) -> dict[str, EnvValue]:
    """A container's environment as it starts: envFrom, then env (later wins), through ConfigMaps and Secrets."""
    env: dict[str, EnvValue] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind, key, label in (("ConfigMap", "configMapRef", "configmap"), ("Secret", "secretRef", "secret")):
            ref = source.get(key)
            if ref:
                obj = _named(objects, kind, ref.get("name"))
                for name, value in (_data(obj) if obj else {}).items():
                    env[prefix + name] = EnvValue(value, label)
    for item in container.get("env") or []:
        name = item.get("name", "")
        if "value" in item or "valueFrom" not in item:
            env[name] = EnvValue(str(item.get("value", "")), "literal")
            continue
        frm = item["valueFrom"] or {}
        for kind, key, label in (("ConfigMap", "configMapKeyRef", "configmap"), ("Secret", "secretKeyRef", "secret")):
            ref = frm.get(key)
            if ref:
                obj = _named(objects, kind, ref.get("name"))
                env[name] = EnvValue(_data(obj).get(ref.get("key", "")) if obj else None, label)
                break
        else:
            env[name] = EnvValue(None, "field" if "fieldRef" in frm else "resource" if frm else "missing")
    return env


def mentions_host(value: str | None, host: str) -> bool:
    """Whether a setting points at a host: the name itself, or in a URL / FQDN (`name.ns.svc`, `@name:6379`)."""
    if not value or not host:
        return False
    return re.search(rf"(^|[/@,\s=]){re.escape(host)}($|[.:/,\s])", value) is not None


def pointing_at(objects: list[Obj], container: Obj, host: str) -> dict[str, EnvValue]:
    """The container's variables whose value points at a host (a Service name)."""
    return {name: v for name, v in env_of(objects, container).items() if mentions_host(v.value, host)}


TRUE = ("1", "true", "yes", "on")


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in TRUE


# --- live: who answers behind a Service -------------------------------------------------------------


def endpoint_pods(k: Any, namespace: str, service: str) -> dict[str, bool]:
    """The pods behind a Service's EndpointSlices: pod name (or address when no pod) -> ready."""
    slices = k.discovery.list_namespaced_endpoint_slice(
        namespace, label_selector=f"kubernetes.io/service-name={service}"
    ).items
    found: dict[str, bool] = {}
    for item in slices:
        for endpoint in item.endpoints or []:
            name = endpoint.target_ref.name if endpoint.target_ref else ",".join(endpoint.addresses or [])
            ready = endpoint.conditions is None or endpoint.conditions.ready is not False
            found[name] = found.get(name, False) or bool(ready)
    return found


def live_objects(k: Any, namespace: str, *kinds: str) -> list[Obj]:
    """Live objects of a namespace as manifest dicts (ConfigMap, Secret, Service, Deployment, StatefulSet, Pod)."""
    listers = {
        "ConfigMap": k.core.list_namespaced_config_map,
        "Secret": k.core.list_namespaced_secret,
        "Service": k.core.list_namespaced_service,
        "Deployment": k.apps.list_namespaced_deployment,
        "StatefulSet": k.apps.list_namespaced_stateful_set,
        "Pod": k.core.list_namespaced_pod,
    }
    out = []
    for kind in kinds:
        for item in listers[kind](namespace).items:
            obj = manifests.live(item)
            obj["kind"] = kind
            out.append(obj)
    return out


DATABASE_ENV_DEFAULT = {"name": "POSTGRES_DB", "user": "POSTGRES_USER"}


def site_database(k: Any, namespace: str, target: Target, selector: str) -> tuple[str, str]:
    """(database, user) the site uses: its running container's environment (the variables the target's
    `database_env` names, ours by default), resolved through the namespace's ConfigMaps and Secrets."""
    names = {**DATABASE_ENV_DEFAULT, **(getattr(target, "database_env", None) or {})}
    objects = live_objects(k, namespace, "ConfigMap")  # neither is a secret: no right to read Secrets needed
    pods = [
        manifests.live(p)
        for p in k.core.list_namespaced_pod(namespace, label_selector=selector).items
        if p.status.phase == "Running"
    ]
    for pod in pods:
        for container in manifests.containers(pod):
            env = env_of(objects, container)
            user = (env.get(names["user"]) or EnvValue(None, "missing")).value
            if user:
                # PostgreSQL's (and our site's) default database is the user's name
                return (env.get(names["name"]) or EnvValue(user, "default")).value or user, user
    raise AssertionError(
        f"expected the site's database user in {names['user']} (target: database_env) of a running pod"
        f" ({selector}) in {namespace}, found none"
    )


def container_ports(container: dict) -> set[str]:
    """The ports a container declares, by number and by name (a Service's targetPort may give either)."""
    ports = container.get("ports") or []
    return {str(p["containerPort"]) for p in ports if p.get("containerPort") is not None} | {
        str(p["name"]) for p in ports if p.get("name")
    }


def site_container(objects: list[Obj], workload: Obj, port: int, named: str = "") -> tuple[Obj | None, list[Finding]]:
    """The container of a site workload (a rendered Deployment, or a live Pod) that runs the site.

    The target may name it (its component's `container`): that one, or a finding if the pods have
    none of that name. Otherwise groups may put a sidecar first (a log shipper, an nginx in front of
    gunicorn): the first of these that finds any container decides, and must find exactly one:
    1. the containers declaring the site's port (the target's `site_port`);
    2. those declaring a port the targetPort of a Service selecting the pods names (number or name);
    3. the pod's containers (so: its only one).
    Otherwise (None, a finding naming the containers and what was looked for), never the first by default.
    """
    containers = [c for c in manifests.containers(workload) if isinstance(c, dict)]
    described = "; ".join(
        f"{c.get('name')} (image {c.get('image') or '?'}, ports {sorted(container_ports(c)) or 'none'})"
        for c in containers
    )
    if named:
        found = [c for c in containers if c.get("name") == named]
        if found:
            return found[0], []
        expected = f"a container named {named} running the site (the target's container for this component)"
        return None, [Finding(manifests.name_of(workload), expected, described or "no container")]
    labels = manifests.pod_labels(workload)
    targets = {
        str(p.get("targetPort", p.get("port")))
        for svc in services_selecting(objects, [labels], headless=None)
        for p in (svc.get("spec") or {}).get("ports") or []
    }
    tiers = (
        [c for c in containers if str(port) in container_ports(c)],
        [c for c in containers if targets & container_ports(c)],
        containers,
    )
    found = next((tier for tier in tiers if tier), [])
    if len(found) == 1:
        return found[0], []
    expected = (
        f"one container running the site: declaring the site port {port} (the target's site_port), else a port"
        f" its Service's targetPort names ({sorted(targets) or 'no Service'}), else the only one; or the"
        " target's `container` for this component"
    )
    return None, [Finding(manifests.name_of(workload), expected, described or "no container")]


def site_deployments(
    objects: list[Obj], target: Target, keys: tuple[str, ...] = ("api", "public")
) -> tuple[list[tuple[Obj, Obj | None]], list[Finding]]:
    """Each Deployment of the site's components with its container running the site (`site_container`;
    None when it cannot be told), and the findings: components not found, containers not told."""
    found: list[tuple[Obj, Obj | None]] = []
    findings: list[Finding] = []
    for key in keys:
        findings += component_findings(objects, target, key, ("Deployment",))
        for workload in workloads(objects, target, key, ("Deployment",)):
            container, unknown = site_container(objects, workload, target.site_port, target.component(key).container)
            findings += unknown
            found.append((workload, container))
    return found, findings


def command_words(container: Obj) -> list[str]:
    """The words a container runs: its command and args, each split as a shell would split a script
    (`sh -c "python manage.py migrate && exec python manage.py runserver 0:8080"` gives `runserver`)."""
    words = []
    for part in [*(container.get("command") or []), *(container.get("args") or [])]:
        words += [w for w in re.split(r"[\s;&|()'\"]+", str(part)) if w]
    return words
