"""Facts read from Kubernetes objects as plain dicts: selectors, templates, references, short labels.

Nothing here draws; `infra` turns these facts into a graph. Every function
takes the dicts a manifest or `ApiClient.sanitize_for_serialization` gives.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kubedefis.core.manifests import containers, pod_labels, pod_spec

Obj = dict[str, Any]

# VirtualMachine: KubeVirt's (défi 21); its pod (virt-launcher) carries the VM template's labels.
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job", "VirtualMachine")
REPLICA_COMPONENTS = {"database-replica", "replica"}
# env names that point a replica at its primary (PRIMARY_HOST, POSTGRES_PRIMARY_HOST, REPLICATE_FROM, ...)
PRIMARY_ENV = re.compile(r"(PRIMARY|MASTER)_?(HOST|SERVICE|ADDR)|REPLICATE_FROM", re.IGNORECASE)
# env names that hold where to connect (POSTGRES_HOST, DATABASE_URL, PGHOST, API_ENDPOINT), not host allow-lists
CONNECTION_ENV = re.compile(r"HOST|URL|URI|ADDR|SERVER|ENDPOINT|DSN|SERVICE", re.IGNORECASE)
NOT_CONNECTION_ENV = re.compile(r"ALLOWED|TRUSTED|CSRF|ORIGIN|PROXY", re.IGNORECASE)


def name(obj: Obj) -> str:
    return str(obj.get("metadata", {}).get("name", "?"))


def labels(obj: Obj) -> dict[str, str]:
    return dict(obj.get("metadata", {}).get("labels") or {})


def describe_selector(selector: Obj | None) -> str:
    if not selector:
        return "nothing"
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        parts.append(f"{expr.get('key')} {expr.get('operator')} {','.join(expr.get('values') or [])}".strip())
    return ", ".join(parts) or "all pods"


def replicas(obj: Obj) -> int | None:
    """Desired replicas of a Deployment or StatefulSet (1 when unset), None for the other kinds."""
    if obj.get("kind") in ("Deployment", "StatefulSet", "ReplicaSet"):
        value = obj.get("spec", {}).get("replicas")
        return 1 if value is None else int(value)
    return None


def _quantities(section: dict[str, Any]) -> str:
    names = {"cpu": "cpu", "memory": "mem", "ephemeral-storage": "disk"}
    return " ".join(f"{names.get(k, k)} {v}" for k, v in sorted(section.items()))


def container_lines(obj: Obj) -> list[str]:
    """One or two lines per container: image and ports, then requests / limits when set."""
    lines = []
    for container in containers(obj):
        ports = [str(p.get("containerPort")) for p in container.get("ports") or []]
        lines.append(
            f"{container.get('name')}: {container.get('image', '?')}" + (f" :{','.join(ports)}" if ports else "")
        )
        res = container.get("resources") or {}
        parts = [f"{key} {_quantities(res[key])}" for key in ("requests", "limits") if res.get(key)]
        if parts:
            lines.append(" · ".join(parts))
        probes = [
            p.removesuffix("Probe") for p in ("livenessProbe", "readinessProbe", "startupProbe") if container.get(p)
        ]
        if probes:
            lines.append("probes: " + ", ".join(probes))
    return lines


def vm_lines(obj: Obj) -> list[str]:
    """A KubeVirt VirtualMachine: its size, run strategy and state, and the images of its disks."""
    spec = obj.get("spec", {})
    template = spec.get("template", {}).get("spec", {})
    size = (spec.get("instancetype") or {}).get("name")
    if not size:
        cpu = template.get("domain", {}).get("cpu", {}).get("cores")
        memory = template.get("domain", {}).get("memory", {}).get("guest")
        size = " ".join(x for x in (f"{cpu} vCPU" if cpu else "", f"{memory}" if memory else "") if x) or None
    strategy = spec.get("runStrategy") or {True: "Always", False: "Halted"}.get(spec.get("running"))
    state = obj.get("status", {}).get("printableStatus")
    lines = [" · ".join(x for x in (f"size {size}" if size else "", f"runStrategy {strategy}" if strategy else "",
                                     state or "") if x)]  # fmt: skip
    for volume in template.get("volumes") or []:
        if volume.get("containerDisk", {}).get("image"):
            lines.append(f"disk {volume.get('name')}: {volume['containerDisk']['image']}")
        elif volume.get("cloudInitNoCloud") is not None or volume.get("cloudInitConfigDrive") is not None:
            lines.append(f"disk {volume.get('name')}: cloud-init")
    return [line for line in lines if line]


def service_kind(svc: Obj) -> str:
    spec = svc.get("spec", {})
    kind = spec.get("type") or "ClusterIP"
    if kind == "ClusterIP" and spec.get("clusterIP") == "None":
        return "headless"
    if kind == "ExternalName":
        return f"ExternalName → {spec.get('externalName')}"
    return str(kind)


def service_ports(svc: Obj) -> list[str]:
    out = []
    for port in svc.get("spec", {}).get("ports") or []:
        text = f"{port.get('port')}→{port.get('targetPort', port.get('port'))}"
        if port.get("protocol", "TCP") != "TCP":
            text += f"/{port['protocol']}"
        if port.get("nodePort"):
            text += f" (node {port['nodePort']})"
        out.append(text)
    return out


@dataclass(frozen=True)
class Reference:
    """A workload's use of a ConfigMap or Secret (or a PVC): how, and what name."""

    kind: str  # ConfigMap, Secret, PersistentVolumeClaim
    name: str
    how: str  # env KEY, envFrom, volume /path, pull secret


def references(obj: Obj) -> list[Reference]:
    """ConfigMaps, Secrets and PVCs the pod template (or pod) uses."""
    spec = pod_spec(obj)
    refs: list[Reference] = []
    mounts = {
        m.get("name"): m.get("mountPath") for c in containers(obj, init=True) for m in c.get("volumeMounts") or []
    }
    for container in containers(obj, init=True):
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                if source.get(key, {}).get("name"):
                    refs.append(Reference(kind, source[key]["name"], f"env {env.get('name')}"))
        for env_from in container.get("envFrom") or []:
            for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                if env_from.get(key, {}).get("name"):
                    refs.append(Reference(kind, env_from[key]["name"], "envFrom"))
    for volume in spec.get("volumes") or []:
        where = f"volume {mounts.get(volume.get('name')) or volume.get('name')}"
        if volume.get("configMap", {}).get("name"):
            refs.append(Reference("ConfigMap", volume["configMap"]["name"], where))
        if volume.get("secret", {}).get("secretName"):
            refs.append(Reference("Secret", volume["secret"]["secretName"], where))
        if volume.get("persistentVolumeClaim", {}).get("claimName"):
            refs.append(Reference("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"], where))
        for source in volume.get("projected", {}).get("sources") or []:
            for key, kind in (("configMap", "ConfigMap"), ("secret", "Secret")):
                if source.get(key, {}).get("name"):
                    refs.append(Reference(kind, source[key]["name"], where))
    for secret in spec.get("imagePullSecrets") or []:
        if secret.get("name"):
            refs.append(Reference("Secret", secret["name"], "pull secret"))
    return refs


def env_values(obj: Obj, configmaps: dict[str, Obj]) -> Iterator[tuple[str, str]]:
    """(name, value) of every plain env value of the template, ConfigMap values included."""
    for container in containers(obj, init=True):
        for env in container.get("env") or []:
            if isinstance(env.get("value"), str):
                yield env["name"], env["value"]
            ref = (env.get("valueFrom") or {}).get("configMapKeyRef") or {}
            data = configmaps.get(ref.get("name", ""), {}).get("data") or {}
            if ref.get("key") in data:
                yield env["name"], str(data[ref["key"]])
        for env_from in container.get("envFrom") or []:
            ref_name = (env_from.get("configMapRef") or {}).get("name", "")
            for key, value in (configmaps.get(ref_name, {}).get("data") or {}).items():
                yield env_from.get("prefix", "") + key, str(value)


def is_connection_env(env_name: str) -> bool:
    return bool(CONNECTION_ENV.search(env_name)) and not NOT_CONNECTION_ENV.search(env_name)


def mentions_host(value: str, host: str) -> bool:
    """The value names the host: `postgresql`, `postgresql:5432`, `postgres://u@postgresql.ns.svc/db`.

    One DNS label may come first: `db-0.db-headless` is a StatefulSet pod behind its headless Service.
    """
    pattern = rf"(^|[/@=,;\s])([a-z0-9-]+\.)?{re.escape(host)}(\.[a-z0-9.-]+)?(:\d+)?($|[/,;?\s])"
    return re.search(pattern, value) is not None


def is_replica(obj: Obj) -> bool:
    return pod_labels(obj).get("app.kubernetes.io/component") in REPLICA_COMPONENTS


def pod_state(pod: Obj) -> str:
    """`Running · ready 1/1 · 2 restarts` from a live pod's status."""
    status = pod.get("status", {})
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(int(s.get("restartCount") or 0) for s in statuses)
    waiting = [s["state"]["waiting"].get("reason") for s in statuses if (s.get("state") or {}).get("waiting")]
    parts = [str(status.get("phase", "?")), f"ready {ready}/{len(statuses) or len(containers(pod))}"]
    if waiting:
        parts.append(str(waiting[0]))
    if restarts:
        parts.append(f"{restarts} restart{'s' if restarts > 1 else ''}")
    return " · ".join(parts)


def owner(obj: Obj) -> tuple[str, str] | None:
    """The controlling owner (kind, name) of an object, if any."""
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller", True):
            return str(ref.get("kind")), str(ref.get("name"))
    return None
