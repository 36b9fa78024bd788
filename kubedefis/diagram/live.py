"""A namespace read from the cluster, as the plain dicts the diagram draws (Secrets without values).

Also finds the ingress controller's pods, which live in another namespace,
and returns them as a synthetic `IngressController` object.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubedefis.core.kube import Kube
from kubedefis.diagram import facts

Obj = dict[str, Any]
CONTROLLER_NAMESPACES = ("ingress-nginx", "ingress", "kube-system", "traefik")
_SERIALIZER = client.ApiClient()
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _plain(item: Any, kind: str) -> Obj:
    obj: Obj = _SERIALIZER.sanitize_for_serialization(item)
    obj["kind"] = kind  # list items come without it
    meta = obj.setdefault("metadata", {})
    meta.pop("managedFields", None)
    (meta.get("annotations") or {}).pop(_LAST_APPLIED, None)  # it repeats the object, a Secret's data included
    if kind == "Secret":
        # the diagram shows key names only: never hold the values
        obj["data"] = dict.fromkeys(obj.get("data") or {}, "")
        obj.pop("stringData", None)
    return obj


def _namespaced(kube: Kube) -> list[tuple[str, Callable[[str], Any]]]:
    return [
        ("Deployment", kube.apps.list_namespaced_deployment),
        ("StatefulSet", kube.apps.list_namespaced_stateful_set),
        ("DaemonSet", kube.apps.list_namespaced_daemon_set),
        ("Job", kube.batch.list_namespaced_job),
        ("CronJob", kube.batch.list_namespaced_cron_job),
        ("Pod", kube.core.list_namespaced_pod),
        ("Service", kube.core.list_namespaced_service),
        ("PersistentVolumeClaim", kube.core.list_namespaced_persistent_volume_claim),
        ("ConfigMap", kube.core.list_namespaced_config_map),
        ("Secret", kube.core.list_namespaced_secret),
        ("Ingress", kube.networking.list_namespaced_ingress),
        ("NetworkPolicy", kube.networking.list_namespaced_network_policy),
        ("HorizontalPodAutoscaler", kube.autoscaling.list_namespaced_horizontal_pod_autoscaler),
    ]


def _cluster_scoped(kube: Kube) -> list[tuple[str, Callable[[], Any]]]:
    return [
        ("IngressClass", kube.networking.list_ingress_class),
        ("StorageClass", client.StorageV1Api(kube.api_client).list_storage_class),
    ]


def read_namespace(kube: Kube, namespace: str) -> tuple[list[Obj], list[str]]:
    """Every object the diagram draws, and notes on what could not be read (a 403 is not fatal)."""
    objects: list[Obj] = []
    notes: list[str] = []
    for kind, list_namespaced in _namespaced(kube):
        try:
            objects += [_plain(item, kind) for item in list_namespaced(namespace).items]
        except ApiException as exc:
            notes.append(f"{kind} not readable ({exc.status} {exc.reason})")
    if not objects and not notes:
        notes.append(f"namespace {namespace} is empty or does not exist")
    # KubeVirt's VirtualMachines, where its CRD is installed (défi 21): their pods are drawn inside them
    with contextlib.suppress(ApiException):
        found = kube.custom.list_namespaced_custom_object("kubevirt.io", "v1", namespace, "virtualmachines")
        for vm in found.get("items") or []:
            vm["kind"] = "VirtualMachine"
            vm.get("metadata", {}).pop("managedFields", None)
            (vm.get("metadata", {}).get("annotations") or {}).pop(_LAST_APPLIED, None)
            objects.append(vm)
    for kind, list_all in _cluster_scoped(kube):
        # a student's account may not list them: the diagram does without
        with contextlib.suppress(ApiException):
            objects += [_plain(item, kind) for item in list_all().items]
    if any(o["kind"] == "Ingress" for o in objects):
        objects += ingress_controllers(kube, [o for o in objects if o["kind"] == "IngressClass"])
    return objects, notes


def _words(controller: str) -> set[str]:
    """Names its pods carry: k8s.io/ingress-nginx → ingress-nginx; traefik.io/ingress-controller → traefik."""
    first, _, last = controller.partition("/")
    return {w for w in (last, first.split(".")[0]) if w and w not in ("k8s", "ingress-controller")}


def _is_controller_pod(pod: Obj, words: set[str]) -> bool:
    labels = facts.labels(pod)
    if labels.get("app.kubernetes.io/component", "controller") != "controller":
        return False  # the admission webhook jobs of ingress-nginx, for one
    text = " ".join((labels.get("app.kubernetes.io/name", ""), labels.get("app", ""), facts.name(pod)))
    return any(word in text for word in words)


def _workload_name(pod: Obj) -> str:
    owner = facts.owner(pod)
    if owner is None:
        return facts.name(pod)
    if owner[0] == "ReplicaSet":
        return owner[1].removesuffix("-" + facts.labels(pod).get("pod-template-hash", ""))
    return owner[1]


def ingress_controllers(kube: Kube, classes: list[Obj]) -> list[Obj]:
    """The controller pods, found by the IngressClasses' controller names in the usual namespaces."""
    by_controller = {c.get("spec", {}).get("controller", ""): facts.name(c) for c in classes}
    words = {w for controller in by_controller for w in _words(controller)} | {"ingress-nginx", "traefik"}
    found: dict[str, Obj] = {}
    for namespace in CONTROLLER_NAMESPACES:
        try:
            pods = [_plain(p, "Pod") for p in kube.core.list_namespaced_pod(namespace).items]
        except ApiException:
            continue  # no such namespace, or not ours to read
        for pod in sorted((p for p in pods if _is_controller_pod(p, words)), key=facts.name):
            workload = _workload_name(pod)
            entry = found.setdefault(
                f"{namespace}/{workload}",
                {
                    "kind": "IngressController",
                    "metadata": {"name": workload, "namespace": namespace},
                    "spec": {"controller": "", "classes": [], "pods": []},
                },
            )
            spec = entry["spec"]
            spec["pods"].append({"name": facts.name(pod), "state": facts.pod_state(pod)})
            for controller, cls in sorted(by_controller.items()):
                if any(w in workload for w in _words(controller)) and cls not in spec["classes"]:
                    spec["classes"].append(cls)
                    spec["controller"] = controller
    return list(found.values())
