"""Kubernetes objects (plain dicts) → the infrastructure graph, left to right.

User / Internet → ingress controller → Ingress → Services → pods (one box per
workload) → volumes, ConfigMaps and Secrets; HPAs beside what they scale;
NetworkPolicy "may reach" arrows and notes; database replication arrows. It
draws what the objects say, nothing more: a hand-in's manifests (no pods yet:
the replicas are drawn from the spec) or a namespace read from a cluster (its
pods, their state, the PVCs bound).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubedefis.core.manifests import pod_labels, selects
from kubedefis.diagram import facts, netpol
from kubedefis.diagram.dot import Attrs, Cluster, Edge, Graph, Html, Node, html_escape, html_label
from kubedefis.diagram.facts import Obj, name

WorkloadKey = tuple[str, str]

FILL = {
    "Internet": "#eceff1",
    "IngressController": "#bbdefb",
    "Ingress": "#90caf9",
    "Service": "#c8e6c9",
    "Pod": "#fff9c4",
    "PersistentVolumeClaim": "#e1bee7",
    "ConfigMap": "#f5f5f5",
    "Secret": "#ffcdd2",
    "HorizontalPodAutoscaler": "#ffe0b2",
    "NetworkPolicy": "#fce4ec",
}
SHAPE = {
    "Internet": "ellipse",
    "PersistentVolumeClaim": "cylinder",
    "ConfigMap": "note",
    "Secret": "note",
    "NetworkPolicy": "note",
}
# (background, border) of the box around a workload's pods
WORKLOAD_BOX = {
    "Deployment": ("#fffde7", "#f9a825"),
    "StatefulSet": ("#ede7f6", "#5e35b1"),
    "DaemonSet": ("#e0f7fa", "#00838f"),
    "Job": ("#eeeeee", "#757575"),
    "CronJob": ("#eeeeee", "#757575"),
    "VirtualMachine": ("#e8f5e9", "#2e7d32"),
    "IngressController": ("#e3f2fd", "#1565c0"),
}
SHORT = {
    "PersistentVolumeClaim": "PVC",
    "HorizontalPodAutoscaler": "HPA",
    "IngressController": "Ingress controller",
    "Internet": "",
    "Peer": "",
}
POLICY_COLOUR, REPLICATION_COLOUR, MISSING_COLOUR = "#c62828", "#1565c0", "#c62828"
MAX_PODS = 6  # live pods drawn per workload; the others are counted
MAX_PLACEHOLDERS = 4  # pods drawn from a spec's replica count


@dataclass
class Workload:
    obj: Obj
    cluster: Cluster
    pods: list[Obj] = field(default_factory=list)
    jobs: list[Obj] = field(default_factory=list)  # a CronJob's Jobs

    @property
    def anchor(self) -> str:
        node = self.cluster.first_node()
        assert node is not None  # every workload box gets at least one node
        return node

    @property
    def pod_labels(self) -> dict[str, str]:
        return pod_labels(self.obj)


def render_objects(objects: list[dict[str, Any]], title: str, notes: Sequence[str] = ()) -> str:
    """The DOT source of the diagram of these objects (manifests, or live objects as dicts)."""
    return build(objects, title, notes).source()


def build(objects: list[dict[str, Any]], title: str, notes: Sequence[str] = ()) -> Graph:
    return _Builder(objects).draw(title, notes)


def _node(node_id: str, kind: str, title: str, lines: Sequence[str] = (), **extra: str) -> Node:
    label = html_label(title, lines, SHORT.get(kind, kind))
    attrs: Attrs = {"label": label, "fillcolor": FILL.get(kind, "#ffffff")}
    if kind in SHAPE:
        attrs["shape"] = SHAPE[kind]
    attrs.update(extra)
    return Node(node_id, attrs)


class _Builder:
    def __init__(self, objects: list[Obj]) -> None:
        self.kinds: dict[str, list[Obj]] = {}
        for obj in objects:
            if isinstance(obj, dict) and obj.get("kind"):
                self.kinds.setdefault(obj["kind"], []).append(obj)
        for items in self.kinds.values():
            items.sort(key=name)
        spaces = Counter(o.get("metadata", {}).get("namespace") for o in objects if isinstance(o, dict))
        spaces.pop(None, None)
        controller_spaces = {o["metadata"].get("namespace") for o in self.of("IngressController")}
        own = [(n, c) for n, c in spaces.most_common() if n not in controller_spaces]
        self.namespace: str | None = own[0][0] if own else None
        self.graph = Graph(
            attrs={
                "rankdir": "LR",
                "compound": "true",
                "newrank": "true",
                "fontname": "Helvetica",
                "nodesep": "0.3",
                "ranksep": "0.7",
                "pad": "0.3",
                "labelloc": "t",
                "labeljust": "l",
            },
            node_defaults={
                "shape": "box",
                "style": "rounded,filled",
                "fontname": "Helvetica",
                "fontsize": "11",
                "color": "#78909c",
            },
            edge_defaults={"fontname": "Helvetica", "fontsize": "9", "color": "#455a64", "arrowsize": "0.7"},
        )
        self.space = self.graph.root
        if self.namespace:
            self.space = Cluster(
                "cluster_namespace",
                {
                    "label": html_label(self.namespace, kind="namespace"),
                    "style": "rounded,dashed",
                    "color": "#90a4ae",
                    "fontname": "Helvetica",
                },
            )
            self.graph.root.clusters.append(self.space)
        self.workloads: dict[WorkloadKey, Workload] = {}
        self.standalone_pods: list[Obj] = []
        self.controllers: dict[str, str] = {}  # ingress class → controller anchor node
        self.controller_namespaces: dict[str, str] = {}  # namespace → controller anchor node
        self.user: str | None = None
        self.node_ids: set[str] = set()

    def of(self, kind: str) -> list[Obj]:
        return self.kinds.get(kind, [])

    # --- nodes ----------------------------------------------------------------------------------

    def add(self, node: Node, where: Cluster | None = None) -> str:
        if node.id not in self.node_ids:
            self.node_ids.add(node.id)
            (where or self.space).nodes.append(node)
        return node.id

    def missing(self, kind: str, object_name: str, why: str = "not found") -> str:
        return self.add(
            _node(
                f"missing/{kind}/{object_name}", kind, object_name, [why], style="rounded,dashed", color=MISSING_COLOUR
            )
        )

    def edge(self, tail: str, head: str, label: str = "", **attrs: str) -> None:
        if label:
            attrs["label"] = label
        self.graph.edges.append(Edge(tail, head, attrs))

    def to_workload(self, tail: str, key: WorkloadKey, label: str = "", **attrs: str) -> None:
        workload = self.workloads[key]
        self.edge(tail, workload.anchor, label, lhead=workload.cluster.id, **attrs)

    def from_workload(self, key: WorkloadKey, head: str, label: str = "", **attrs: str) -> None:
        workload = self.workloads[key]
        self.edge(workload.anchor, head, label, ltail=workload.cluster.id, **attrs)

    def between_workloads(self, tail: WorkloadKey, head: WorkloadKey, label: str, **attrs: str) -> None:
        a, b = self.workloads[tail], self.workloads[head]
        self.edge(a.anchor, b.anchor, label, ltail=a.cluster.id, lhead=b.cluster.id, **attrs)

    def user_node(self, internet: bool) -> str:
        if self.user is None:
            title = "Internet / users" if internet else "you (kubectl)"
            self.user = self.add(_node("user", "Internet", title), self.graph.root)
        return self.user

    # --- drawing --------------------------------------------------------------------------------

    def draw(self, title: str, notes: Sequence[str]) -> Graph:
        self.graph.attrs["label"] = Html(
            f'<<font point-size="16"><b>{html_escape(title)}</b></font>'
            + "".join(f'<br/><font point-size="10">{html_escape(n)}</font>' for n in notes)
            + ">"
        )
        self._workloads()
        self._ingresses()
        self._services()
        self._storage_and_config()
        self._autoscalers()
        self._connections()
        self._network_policies()
        self._kubectl_access()
        return self.graph

    def _workloads(self) -> None:
        cron_jobs: dict[str, list[Obj]] = {}
        for kind in facts.WORKLOAD_KINDS:
            for obj in self.of(kind):
                owner = facts.owner(obj)
                if kind == "Job" and owner and owner[0] == "CronJob" and _named(self.of("CronJob"), owner[1]):
                    cron_jobs.setdefault(owner[1], []).append(obj)
                    continue
                background, border = WORKLOAD_BOX[kind]
                cluster = Cluster(
                    f"cluster_{kind}_{name(obj)}",
                    {"style": "rounded,filled", "fillcolor": background, "color": border, "fontname": "Helvetica"},
                    same_rank=True,
                )
                self.workloads[(kind, name(obj))] = Workload(obj, cluster)
        for cron, jobs in cron_jobs.items():
            self.workloads[("CronJob", cron)].jobs = jobs
        for pod in self.of("Pod"):
            key = self._owner_workload(pod)
            if key:
                self.workloads[key].pods.append(pod)
            else:
                self.standalone_pods.append(pod)
        for key, workload in sorted(self.workloads.items()):
            self._workload_box(key, workload)
            self.space.clusters.append(workload.cluster)
        for pod in self.standalone_pods:
            self.add(_node(f"Pod/{name(pod)}", "Pod", name(pod), [facts.pod_state(pod), *facts.container_lines(pod)]))

    def _owner_workload(self, pod: Obj) -> WorkloadKey | None:
        owner = facts.owner(pod)
        if owner:
            kind, owner_name = owner
            if kind == "ReplicaSet":
                hash_label = facts.labels(pod).get("pod-template-hash", "")
                kind, owner_name = "Deployment", owner_name.removesuffix(f"-{hash_label}")
            if kind == "VirtualMachineInstance":  # KubeVirt: the instance is named after its VirtualMachine
                kind = "VirtualMachine"
            if kind == "Job":
                for (wkind, wname), workload in self.workloads.items():
                    if wkind == "CronJob" and _named(workload.jobs, owner_name):
                        return (wkind, wname)
            if (kind, owner_name) in self.workloads:
                return (kind, owner_name)
        pod_labels = facts.labels(pod)
        for key, workload in sorted(self.workloads.items()):
            selector = workload.obj.get("spec", {}).get("selector")
            if key[0] != "CronJob" and selector and selects(selector, pod_labels, empty_selects_all=True):
                return key
        return None

    def _workload_box(self, key: WorkloadKey, workload: Workload) -> None:
        kind, wname = key
        obj, spec, status = workload.obj, workload.obj.get("spec", {}), workload.obj.get("status", {})
        lines = []
        count = facts.replicas(obj)
        if count is not None:
            lines.append(f"{count} replica{'s' if count != 1 else ''}")
            if "readyReplicas" in status or "replicas" in status:
                lines[-1] += f" ({status.get('readyReplicas', 0)} ready)"
        if kind == "StatefulSet" and spec.get("serviceName"):
            lines.append(f"serviceName {spec['serviceName']}")
        if kind == "DaemonSet":
            lines.append("one pod per node")
        if kind == "CronJob":
            lines.append(f"schedule {spec.get('schedule', '?')}" + (" (suspended)" if spec.get("suspend") else ""))
        if kind == "Job":
            lines.append(f"completions {spec.get('completions', 1)}")
            if status:
                lines.append(f"{status.get('succeeded', 0)} succeeded, {status.get('failed', 0)} failed")
        if kind == "VirtualMachine":
            lines += facts.vm_lines(obj)
        lines += facts.container_lines(obj)
        workload.cluster.attrs["label"] = html_label(wname, lines, kind)
        if workload.pods:
            shown = sorted(workload.pods, key=name)[:MAX_PODS]
            for pod in shown:
                where = pod.get("spec", {}).get("nodeName")
                state = [facts.pod_state(pod), f"node {where}" if where else ""]
                self.add(_node(f"Pod/{name(pod)}", "Pod", name(pod), state), workload.cluster)
            if len(workload.pods) > len(shown):
                more = len(workload.pods) - len(shown)
                self.add(_node(f"{kind}/{wname}/more", "Pod", f"… {more} more pods"), workload.cluster)
            return
        for node_id, title in _placeholders(kind, wname, count):
            extra = {"style": "rounded,dashed"} if count == 0 else {}
            self.add(_node(node_id, "Pod", title, **extra), workload.cluster)

    def _ingresses(self) -> None:
        ingresses = self.of("Ingress")
        if not ingresses:
            return
        default_class = next(
            (
                name(c)
                for c in self.of("IngressClass")
                if c.get("metadata", {}).get("annotations", {}).get("ingressclass.kubernetes.io/is-default-class")
                == "true"
            ),
            "default",
        )
        user = self.user_node(internet=True)
        for ingress in ingresses:
            spec = ingress.get("spec", {})
            annotations = ingress.get("metadata", {}).get("annotations") or {}
            cls = spec.get("ingressClassName") or annotations.get("kubernetes.io/ingress.class") or default_class
            controller = self._controller(cls, user)
            lines = [f"class {cls}"]
            for tls in spec.get("tls") or []:
                lines.append(f"TLS {', '.join(tls.get('hosts') or ['*'])}")
            node_id = self.add(_node(f"Ingress/{name(ingress)}", "Ingress", name(ingress), lines))
            self.edge(controller, node_id)
            for tls in spec.get("tls") or []:
                if tls.get("secretName"):
                    self._config_edge(node_id, "Secret", tls["secretName"], "TLS certificate", None)
            for host, path, backend in _ingress_routes(spec):
                service = (backend.get("service") or {}).get("name") or backend.get("serviceName")
                if not service:
                    continue
                port = (backend.get("service") or {}).get("port") or {}
                port_text = port.get("number") or port.get("name") or backend.get("servicePort") or ""
                target = (
                    f"Service/{service}" if _named(self.of("Service"), service) else self.missing("Service", service)
                )
                self.edge(node_id, target, f"{host}{path}" + (f" → :{port_text}" if port_text else ""))

    def _controller(self, cls: str, user: str) -> str:
        if cls in self.controllers:
            return self.controllers[cls]
        found = [c for c in self.of("IngressController") if cls in (c.get("spec", {}).get("classes") or [])]
        found = found or self.of("IngressController")[:1]
        controller_name = next(
            (c.get("spec", {}).get("controller") for c in self.of("IngressClass") if name(c) == cls), None
        )
        if found:
            obj = found[0]
            spec = obj.get("spec", {})
            cluster = Cluster(
                f"cluster_controller_{name(obj)}",
                {
                    "label": html_label(
                        name(obj),
                        [
                            f"namespace {obj['metadata'].get('namespace')}",
                            spec.get("controller") or controller_name or "",
                        ],
                        "Ingress controller",
                    ),
                    "style": "rounded,filled",
                    "fillcolor": WORKLOAD_BOX["IngressController"][0],
                    "color": WORKLOAD_BOX["IngressController"][1],
                    "fontname": "Helvetica",
                },
                same_rank=True,
            )
            self.graph.root.clusters.append(cluster)
            for pod in (spec.get("pods") or [])[:MAX_PODS]:
                self.add(_node(f"controller-pod/{pod['name']}", "Pod", pod["name"], [pod.get("state", "")]), cluster)
            if not cluster.nodes:
                self.add(_node(f"controller/{name(obj)}", "IngressController", "no pod found"), cluster)
            anchor = cluster.nodes[0].id
            self.controller_namespaces[str(obj["metadata"].get("namespace"))] = anchor
            self.edge(user, anchor, "HTTP / HTTPS", lhead=cluster.id)
        else:
            lines = [controller_name or "(its pods are not in the objects)"]
            anchor = self.add(
                _node(f"IngressController/{cls}", "IngressController", f"class {cls}", lines), self.graph.root
            )
            self.edge(user, anchor, "HTTP / HTTPS")
        self.controllers[cls] = anchor
        return anchor

    def _services(self) -> None:
        for svc in self.of("Service"):
            spec = svc.get("spec", {})
            kind = facts.service_kind(svc)
            node_id = self.add(_node(f"Service/{name(svc)}", "Service", name(svc), [kind, *facts.service_ports(svc)]))
            if kind in ("NodePort", "LoadBalancer"):
                node_ports = [str(p["nodePort"]) for p in spec.get("ports") or [] if p.get("nodePort")]
                self.edge(self.user_node(internet=True), node_id, f"{kind} {', '.join(node_ports)}".strip())
            selector = spec.get("selector")
            if not selector:
                continue
            targets = ", ".join(str(p.get("targetPort", p.get("port"))) for p in spec.get("ports") or [])
            label = f"→ :{targets}" if targets else ""
            matched = [k for k, w in sorted(self.workloads.items()) if selects(selector, w.pod_labels)]
            for key in matched:
                self.to_workload(node_id, key, label)
            for pod in self.standalone_pods:
                if selects(selector, facts.labels(pod)):
                    matched.append(("Pod", name(pod)))
                    self.edge(node_id, f"Pod/{name(pod)}", label)
            if not matched:
                text = ", ".join(f"{k}={v}" for k, v in sorted(selector.items()))
                missing = self.missing("Pod", f"no pod matches {text}", "the Service has no endpoints")
                self.edge(node_id, missing, color=MISSING_COLOUR, style="dashed")

    def _storage_and_config(self) -> None:
        for pvc in self.of("PersistentVolumeClaim"):
            lines = self._pvc_lines(pvc)
            self.add(_node(f"PersistentVolumeClaim/{name(pvc)}", "PersistentVolumeClaim", name(pvc), lines))
        for key, workload in sorted(self.workloads.items()):
            template_refs = facts.references(workload.obj)
            for (kind, ref_name), hows in _grouped(r for r in template_refs if r.kind != "PersistentVolumeClaim"):
                self._config_edge(workload.anchor, kind, ref_name, hows, workload.cluster.id)
            if workload.pods:
                # each live pod's own claims: a StatefulSet's pods each have theirs
                for pod in sorted(workload.pods, key=name)[:MAX_PODS]:
                    claims = (r for r in facts.references(pod) if r.kind == "PersistentVolumeClaim")
                    for (_, claim), hows in _grouped(claims):
                        self.edge(f"Pod/{name(pod)}", self._pvc(claim), hows)
                continue
            for (_, claim), hows in _grouped(r for r in template_refs if r.kind == "PersistentVolumeClaim"):
                self.from_workload(key, self._pvc(claim), hows)
            for template in workload.obj.get("spec", {}).get("volumeClaimTemplates") or []:
                lines = [*self._pvc_lines(template), f"one per pod: {name(template)}-{key[1]}-0, …"]
                node_id = f"pvc-template/{key[1]}/{name(template)}"
                self.add(_node(node_id, "PersistentVolumeClaim", name(template), lines))
                self.from_workload(key, node_id, "volumeClaimTemplate")

    def _pvc(self, claim: str) -> str:
        if _named(self.of("PersistentVolumeClaim"), claim):
            return f"PersistentVolumeClaim/{claim}"
        return self.missing("PersistentVolumeClaim", claim)

    def _pvc_lines(self, pvc: Obj) -> list[str]:
        spec, status = pvc.get("spec", {}), pvc.get("status", {})
        size = spec.get("resources", {}).get("requests", {}).get("storage", "?")
        modes = ", ".join(spec.get("accessModes") or [])
        storage_class = spec.get("storageClassName")
        provisioner = next((c.get("provisioner") for c in self.of("StorageClass") if name(c) == storage_class), None)
        lines = [f"{size}" + (f" · {modes}" if modes else "")]
        lines.append(f"StorageClass {storage_class}" if storage_class else "default StorageClass")
        if provisioner:
            lines[-1] += f" ({provisioner})"
        if status.get("phase"):
            lines.append(f"{status['phase']}" + (f" → PV {spec['volumeName']}" if spec.get("volumeName") else ""))
        return lines

    def _config_edge(self, tail: str, kind: str, ref_name: str, how: str, ltail: str | None) -> None:
        obj = next((o for o in self.of(kind) if name(o) == ref_name), None)
        if obj is None:
            head = self.add(
                _node(f"{kind}/{ref_name}", kind, ref_name, ["(not in the objects)"], style="rounded,dashed,filled")
            )
        else:
            keys = sorted((obj.get("data") or {}) | (obj.get("stringData") or {}))
            lines = [f"type {obj.get('type', 'Opaque')}"] if kind == "Secret" else []
            if keys:
                lines.append("keys: " + ", ".join(keys[:5]) + (f" (+{len(keys) - 5})" if len(keys) > 5 else ""))
            head = self.add(_node(f"{kind}/{ref_name}", kind, ref_name, lines))
        attrs = {"style": "dashed", "color": "#b0bec5", "fontcolor": "#607d8b", "arrowhead": "vee"}
        if ltail:
            attrs["ltail"] = ltail
        self.edge(tail, head, how, **attrs)

    def _autoscalers(self) -> None:
        for hpa in self.of("HorizontalPodAutoscaler"):
            spec, status = hpa.get("spec", {}), hpa.get("status", {})
            lines = [f"{spec.get('minReplicas', 1)}–{spec.get('maxReplicas', '?')} replicas"]
            if spec.get("targetCPUUtilizationPercentage"):
                lines.append(f"target cpu {spec['targetCPUUtilizationPercentage']}%")
            for metric in spec.get("metrics") or []:
                resource = metric.get("resource") or {}
                target = resource.get("target") or {}
                value = (
                    f"{target['averageUtilization']}%"
                    if "averageUtilization" in target
                    else target.get("averageValue") or target.get("value") or "?"
                )
                lines.append(f"target {resource.get('name', metric.get('type', '?'))} {value}")
            if "currentReplicas" in status:
                lines.append(f"now {status['currentReplicas']} replicas")
            node_id = self.add(
                _node(f"HorizontalPodAutoscaler/{name(hpa)}", "HorizontalPodAutoscaler", name(hpa), lines)
            )
            ref = spec.get("scaleTargetRef") or {}
            key = (str(ref.get("kind")), str(ref.get("name")))
            attrs = {"style": "dotted", "color": "#ef6c00"}
            if key in self.workloads:
                self.to_workload(node_id, key, "scales", **attrs)
            else:
                self.edge(node_id, self.missing(key[0], key[1]), "scales", **attrs)

    def _connections(self) -> None:
        """Workload → Service links read from env values (DB host, primary host for replicas)."""
        configmaps = {name(c): c for c in self.of("ConfigMap")}
        services = self.of("Service")
        for key, workload in sorted(self.workloads.items()):
            own = {name(s) for s in services if selects(s.get("spec", {}).get("selector"), workload.pod_labels)}
            links: dict[str, list[str]] = {}
            replication: dict[str, list[str]] = {}
            for env_name, value in facts.env_values(workload.obj, configmaps):
                if not facts.is_connection_env(env_name):
                    continue
                for svc in services:
                    if name(svc) in own or not facts.mentions_host(value, name(svc)):
                        continue
                    primary = facts.PRIMARY_ENV.search(env_name) or (
                        facts.is_replica(workload.obj) and env_name.upper().endswith("HOST")
                    )
                    (replication if primary else links).setdefault(name(svc), []).append(env_name)
            for svc_name, envs in sorted(links.items()):
                self.from_workload(key, f"Service/{svc_name}", _join(envs), color="#546e7a")
            for svc_name, envs in sorted(replication.items()):
                self._replication(key, svc_name, envs)

    def _replication(self, key: WorkloadKey, svc_name: str, envs: list[str]) -> None:
        svc = next(s for s in self.of("Service") if name(s) == svc_name)
        selector = svc.get("spec", {}).get("selector")
        primaries = [k for k, w in sorted(self.workloads.items()) if k != key and selects(selector, w.pod_labels)]
        attrs = {"color": REPLICATION_COLOUR, "fontcolor": REPLICATION_COLOUR, "penwidth": "2", "constraint": "false"}
        label = f"streams from ({_join(envs)})"
        if not primaries:
            self.from_workload(key, f"Service/{svc_name}", label, **attrs)
        for primary in primaries:
            self.between_workloads(key, primary, label, **attrs)

    def _network_policies(self) -> None:
        pod_labels = {key: w.pod_labels for key, w in self.workloads.items()}
        # one arrow per (from, to) pair, whatever the number of policies that allow it
        allowed: dict[tuple[netpol.Peer, netpol.Peer], list[str]] = {}
        for policy in self.of("NetworkPolicy"):
            view = netpol.analyse(policy, pod_labels, self.namespace)
            lines = [f"selects {view.selects}" + ("" if view.protected else " (no workload)")]
            for direction in ("ingress", "egress"):
                if view.denies(direction):
                    some = any(r.direction == direction for r in view.reaches)
                    lines.append(
                        f"{direction}: only the red dashed arrows, the rest is denied"
                        if some
                        else f"{direction}: everything denied"
                    )
            note = self.add(_node(f"NetworkPolicy/{view.name}", "NetworkPolicy", view.name, lines))
            for key in view.protected:
                # constrained: the note sits just left of what it protects
                self.to_workload(note, key, style="dotted", arrowhead="none", color=POLICY_COLOUR)
            for reach in view.reaches:
                allowed.setdefault((reach.source, reach.target), []).append(reach.ports)
        for (source, target), ports in allowed.items():
            self._reach(source, target, _join(ports))

    def _reach(self, source: netpol.Peer, target: netpol.Peer, ports: str) -> None:
        attrs = {"style": "dashed", "color": POLICY_COLOUR, "fontcolor": POLICY_COLOUR, "constraint": "false"}
        ends = []
        for peer in (source, target):
            if peer.kind == "workload" and peer.key is not None:
                ends.append((self.workloads[peer.key].anchor, self.workloads[peer.key].cluster.id))
            elif peer.kind == "namespace" and peer.namespace in self.controller_namespaces:
                ends.append((self.controller_namespaces[peer.namespace], ""))
            else:
                outside = peer.kind in ("namespace", "cidr", "any")
                node = _node(f"peer/{peer.kind}/{peer.text}", "Peer", peer.text, style="rounded,dashed")
                ends.append((self.add(node, self.graph.root if outside else None), ""))
        (tail, ltail), (head, lhead) = ends
        if ltail:
            attrs["ltail"] = ltail
        if lhead:
            attrs["lhead"] = lhead
        self.edge(tail, head, f"may reach · {ports}", **attrs)

    def _kubectl_access(self) -> None:
        """No Ingress and no NodePort: the course reaches the pods with kubectl proxy / port-forward."""
        if self.user is not None:
            return
        reached: set[WorkloadKey] = set()
        used = {e.head for e in self.graph.edges}
        for svc in self.of("Service"):
            node_id = f"Service/{name(svc)}"
            if node_id in used or facts.service_kind(svc) != "ClusterIP":
                continue
            self.edge(self.user_node(internet=False), node_id, "kubectl proxy / port-forward", style="dashed")
            selector = svc.get("spec", {}).get("selector")
            reached |= {k for k, w in self.workloads.items() if selects(selector, w.pod_labels)}
        for key in sorted(self.workloads):
            if key[0] in ("Deployment", "StatefulSet", "DaemonSet") and key not in reached and not self._served(key):
                self.to_workload(self.user_node(internet=False), key, "kubectl port-forward", style="dashed")

    def _served(self, key: WorkloadKey) -> bool:
        labels = self.workloads[key].pod_labels
        return any(selects(s.get("spec", {}).get("selector"), labels) for s in self.of("Service"))


def _named(objects: list[Obj], wanted: str) -> bool:
    return any(name(o) == wanted for o in objects)


def _grouped(refs: Iterable[facts.Reference]) -> list[tuple[tuple[str, str], str]]:
    """References by (kind, name), their uses joined: `env A, env B`."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for ref in refs:
        grouped.setdefault((ref.kind, ref.name), []).append(ref.how)
    return [(k, _join(v)) for k, v in sorted(grouped.items())]


def _join(items: list[str], limit: int = 3) -> str:
    unique = list(dict.fromkeys(items))
    return ", ".join(unique[:limit]) + (f" (+{len(unique) - limit})" if len(unique) > limit else "")


def _placeholders(kind: str, wname: str, count: int | None) -> list[tuple[str, str]]:
    """Pods drawn from a spec: a few, named as Kubernetes will name them where that is known."""
    if kind == "DaemonSet":
        return [(f"{kind}/{wname}/pod", "pod (on every node)")]
    if kind in ("Job", "CronJob"):
        return [(f"{kind}/{wname}/pod", "job pod")]
    if kind == "VirtualMachine":
        return [(f"{kind}/{wname}/pod", "virt-launcher pod (the VM's QEMU)")]
    if count == 0:
        return [(f"{kind}/{wname}/pod", "no pod (0 replicas)")]
    total = count or 1
    shown = total if total <= MAX_PLACEHOLDERS else MAX_PLACEHOLDERS - 1
    names = [f"{wname}-{i}" if kind == "StatefulSet" else f"pod {i + 1}/{total}" for i in range(shown)]
    out = [(f"{kind}/{wname}/pod-{i}", title) for i, title in enumerate(names)]
    if total > shown:
        out.append((f"{kind}/{wname}/more", f"… {total - shown} more"))
    return out


def _ingress_routes(spec: Obj) -> list[tuple[str, str, Obj]]:
    routes = []
    default = spec.get("defaultBackend") or spec.get("backend")
    if default:
        routes.append(("*", " (default)", default))
    for rule in spec.get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            routes.append((rule.get("host") or "*", path.get("path") or "/", path.get("backend") or {}))
    return routes
