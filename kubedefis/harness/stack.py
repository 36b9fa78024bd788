"""Putting a défi's stage in place: our hand-in or chart on the local cluster, or nothing when grading."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubedefis import kube, workloads
from kubedefis.errors import KubedefisError
from kubedefis.harness import manifests, timeouts
from kubedefis.harness.target import Component
from kubedefis.shell import Status, run
from kubedefis.waits import Check, wait_for


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


def running_pods(cluster: Any, namespace: str, selector: str) -> list[Any]:
    pods = cluster.kube.core.list_namespaced_pod(namespace, label_selector=selector).items
    return [p for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp]


def ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def chart_values(suite: Any, preset: str) -> list[Path]:
    """Values files for a défi: the ones given with --values, else our preset for it and local.yaml."""
    if suite.values:
        return list(suite.values)
    presets = suite.chart / "values"
    files = [presets / f"{preset}.yaml"] if preset else []
    return [*files, presets / "local.yaml"]


def install_chart(
    cluster: Any,
    suite: Any,
    namespace: str,
    preset: str,
    overrides: dict[str, Any] | None = None,
    timeout: float = timeouts.HELM,
) -> dict[str, Any]:
    """`helm upgrade --install` the chart with the défi's values (our images built and loaded first).

    In grading mode (target deployed) nothing is installed. Returns the values used.
    """
    from kubedefis import stack as local_stack
    from kubedefis.harness.helm import load_values, merge_values

    values = merge_values(load_values(chart_values(suite, preset)), overrides or {})
    if suite.target.deployed:
        return values
    if cluster.local_spec is not None and suite.chart.resolve() == local_stack.CHART.resolve():
        tag, refs = local_stack.build_and_tag(Status())
        cluster.load_images(refs)
        # One Ingress host per namespace: two stacks claiming the same host and path would share
        # (and fight over) the controller's routes.
        values = merge_values(values, {"image": {"tag": tag}, "ingress": {"host": f"django.{namespace}.localhost"}})
    cluster.helm().upgrade_install(suite.chart, suite.target.release, namespace, values, timeout=timeout)
    return values


HANDIN_TAG = "0.1.0"  # the tag the défi 3–5 hand-ins name (the chart's appVersion)


def ensure_handin_images(cluster: Any) -> list[str]:
    """Our stack images under the tag the hand-ins use, loaded into the local cluster."""
    from kubedefis import stack as local_stack

    _, refs = local_stack.build_and_tag(Status())
    tagged = []
    for ref in refs:
        wanted = ref.rsplit(":", 1)[0] + f":{HANDIN_TAG}"
        run(["docker", "tag", ref, wanted])
        tagged.append(wanted)
    cluster.load_images(tagged)
    return tagged


@dataclass(frozen=True)
class Resolved:
    """A component found in a namespace: its workload and the Services that select its pods."""

    kind: str  # Deployment | StatefulSet
    name: str
    selector: str
    pod_labels: dict[str, str]
    services: tuple[Any, ...]

    def service(self, headless: bool | None = False) -> Any:
        """The component's Service: a ClusterIP one by default, the headless one with headless=True."""
        for svc in self.services:
            is_headless = svc.spec.cluster_ip == "None"
            if headless is None or is_headless == headless:
                return svc
        kinds = "headless " if headless else ""
        raise AssertionError(f"no {kinds}Service selects the pods of {self.kind}/{self.name} ({self.selector})")


def _selector_matches(selector: str, labels: dict[str, str]) -> bool:
    pairs = [p.split("=", 1) for p in selector.split(",") if p]
    return all(labels.get(k) == v for k, v in pairs)


def resolve(cluster: Any, namespace: str, component: Component) -> Resolved:
    """Find the component's workload (by name, else by pod selector) and its Services."""
    candidates = []
    for kind, lister in (
        ("Deployment", cluster.kube.apps.list_namespaced_deployment),
        ("StatefulSet", cluster.kube.apps.list_namespaced_stateful_set),
    ):
        for obj in lister(namespace).items:
            labels = obj.spec.template.metadata.labels or {}
            if (component.name and obj.metadata.name == component.name) or (
                not component.name and _selector_matches(component.selector, labels)
            ):
                candidates.append((kind, obj))
    if not candidates:
        raise AssertionError(f"no Deployment or StatefulSet in {namespace} matches {component}")
    if len(candidates) > 1:
        names = [f"{k}/{o.metadata.name}" for k, o in candidates]
        raise AssertionError(f"several workloads match {component}: {names}; name one in the target file")
    kind, obj = candidates[0]
    labels = obj.spec.template.metadata.labels or {}
    services = tuple(
        svc
        for svc in cluster.kube.core.list_namespaced_service(namespace).items
        if (component.service and svc.metadata.name == component.service)
        or (
            not component.service
            and svc.spec.selector
            and _selector_matches(",".join(f"{k}={v}" for k, v in svc.spec.selector.items()), labels)
        )
    )
    selector = ",".join(f"{k}={v}" for k, v in (obj.spec.selector.match_labels or {}).items())
    return Resolved(kind, obj.metadata.name, selector or component.selector, labels, services)


# Grading a stack that is already deployed, nothing is being installed: a component that is not
# there now will not appear, and a rollout should be over. Set by the suite's plugin.
GRADING_EXISTING_STACK = False
EXISTING_STACK_WAIT = 60.0  # seconds: a rollout still in progress when grading starts


def wait_component(cluster: Any, namespace: str, component: Component, timeout: float = timeouts.ROLLOUT) -> Resolved:
    """Wait until the component exists and its workload has rolled out; on timeout show pods, events, logs."""
    if GRADING_EXISTING_STACK:
        timeout = min(timeout, EXISTING_STACK_WAIT)
    found = wait_for(
        f"a workload matching {component} in {namespace}",
        lambda: Check(True, resolve(cluster, namespace, component)),
        timeout=0 if GRADING_EXISTING_STACK else timeout,
        evidence=lambda: kube.evidence(cluster.kube, namespace),
    )
    assert found is not None
    check = kube.deployment_ready if found.kind == "Deployment" else kube.statefulset_ready
    wait_for(
        f"{found.kind.lower()} {namespace}/{found.name} to roll out",
        lambda: check(cluster.kube, namespace, found.name),
        timeout=timeout,
        evidence=lambda: (
            kube.evidence(cluster.kube, namespace, found.name, found.selector)
            + "\n"
            + kube.pod_logs(cluster.kube, namespace, found.selector, tail=15)
        ),
    )
    return resolve(cluster, namespace, component)


def exec_in(
    cluster: Any, namespace: str, pod: str, *command: str, container: str | None = None, check: bool = True
) -> str:
    """Run a command in a pod's container (`kubectl exec`); its output, or a failure with it."""
    args = ["exec", "-n", namespace, pod]
    if container:
        args += ["-c", container]
    return cluster.kubectl_run(*args, "--", *command, check=check)


def pod_env(cluster: Any, namespace: str, pod: str, name: str) -> str:
    """The value a running container actually sees for an environment variable."""
    return exec_in(cluster, namespace, pod, "printenv", name, check=False).strip()


FREEZE_SCRIPT = """
init=$(crictl inspect -o go-template --template '{{.info.pid}}' "$1")
ns=$(readlink /proc/$init/ns/pid)
for p in /proc/[0-9]*; do
  [ "$(readlink $p/ns/pid 2>/dev/null)" = "$ns" ] && kill -STOP "${p#/proc/}" 2>/dev/null
done
echo "$init"
"""


def freeze_container(cluster: Any, pod: Any, container: str) -> str:
    """SIGSTOP every process of a container, its PID 1 included, from the node (local kind only).

    A process cannot stop its own namespace's PID 1 from inside the container, and stopping
    only the workers lets gunicorn's master replace them: a hung container is all of it stopped.
    """
    if cluster.local_spec is None:
        raise KubedefisError("freezing a container needs access to the node: only on the local kind cluster")
    status = next(s for s in pod.status.container_statuses if s.name == container)
    container_id = status.container_id.split("://", 1)[-1]
    node = cluster.local_spec.node_container
    return run(["docker", "exec", node, "sh", "-c", FREEZE_SCRIPT, "freeze", container_id]).stdout.strip()


def install_stack(
    cluster: Any, suite: Any, namespace: str, preset: str, components: tuple[str, ...] = ("database", "api", "public")
) -> dict[str, Resolved]:
    """Install the chart with a défi's preset and wait for each component; the components found."""
    install_chart(cluster, suite, namespace, preset)
    return {
        name: wait_component(cluster, namespace, suite.target.component(name), timeouts.DATABASE_READY)
        for name in components
    }
