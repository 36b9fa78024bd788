"""Putting a défi's stage in place: our hand-in or chart on the local cluster, or nothing when grading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubedefis import kube, workloads
from kubedefis.harness import manifests, timeouts
from kubedefis.harness.target import Component
from kubedefis.shell import Status, run
from kubedefis.waits import wait_for


def ensure_web_nodb_image(cluster: Any, tag: str = "v1") -> str:
    """Build the défi 1 image (cached by content) and load it as kubedefis/web-nodb:<tag>."""
    ref = workloads.build(workloads.web_nodb(tag), Status())
    wanted = f"kubedefis/web-nodb:{tag}"
    run(["docker", "tag", ref, wanted])
    cluster.load_images([wanted])
    return wanted


def apply_handin(cluster: Any, namespace: str, folder: Path) -> list[dict[str, Any]]:
    objects = manifests.load([folder])
    manifests.apply(cluster.kubectl_command(), namespace, objects)
    return objects


def wait_deployment(cluster: Any, namespace: str, component: Component, timeout: float = timeouts.ROLLOUT) -> Any:
    """Wait until the component's Deployment has rolled out; on timeout show pods, events and logs."""
    return wait_for(
        f"deployment {namespace}/{component.name} to roll out",
        lambda: kube.deployment_ready(cluster.kube, namespace, component.name),
        timeout=timeout,
        evidence=lambda: kube.evidence(cluster.kube, namespace, component.name, component.selector)
        + "\n" + kube.pod_logs(cluster.kube, namespace, component.selector, tail=15),
    )


def running_pods(cluster: Any, namespace: str, selector: str) -> list[Any]:
    pods = cluster.kube.core.list_namespaced_pod(namespace, label_selector=selector).items
    return [p for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp]


def ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
