"""A défi's stage as the checks see it: its components found by selector, their pods, Services and containers.

Installing is `kubedefis.stack.deploy`'s (the plugin's `stage` fixture calls it); here is what the
checks need afterwards, on our stack or a group's alike: a component found from the target file
(workload by name or pod selector, then the Services selecting its pods), its running pods, a
command run in one of them, a container frozen from the node.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubedefis.core import kube, manifests, timeouts
from kubedefis.core.errors import KubedefisError
from kubedefis.core.helm import Helm, load_values, merge_values
from kubedefis.core.shell import run
from kubedefis.core.tools import find_tool
from kubedefis.core.waits import Check, wait_for
from kubedefis.harness import checks, discover
from kubedefis.harness.cluster import ClusterHandle
from kubedefis.harness.options import SuiteOptions, values_files
from kubedefis.harness.target import Component, Target
from kubedefis.stack import deploy


def apply_handin(cluster: ClusterHandle, namespace: str, folder: Path) -> list[dict[str, Any]]:
    """Apply a hand-in as the course's `kubectl apply -f`, then wait for its Jobs (its migrations).

    The course runs its migrate Job before looking at the site; here, beside the other lanes, the
    Job can wait minutes for CPU, and a check started meanwhile would grade a database without tables.
    A Job that will not end by waiting (it failed, its pods crash-loop, lack an image or CPU that no
    other stage will free) stops the wait within about a minute, with why (kube.why_stuck).
    """
    objects = manifests.load([folder])
    manifests.apply(cluster.kubectl_command(), namespace, objects)
    for job in manifests.find(objects, "Job"):
        name = job["metadata"]["name"]
        kube.wait_job(cluster.kube, namespace, name, timeouts.JOB, f"the hand-in's Job {name}")
    return objects


def running_pods(cluster: ClusterHandle, namespace: str, selector: str) -> list[Any]:
    pods = cluster.kube.core.list_namespaced_pod(namespace, label_selector=selector).items
    return [p for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp]


def ready_pods(cluster: ClusterHandle, namespace: str, selector: str) -> list[Any]:
    return [p for p in running_pods(cluster, namespace, selector) if kube.pod_ready(p)]


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


def resolve(cluster: ClusterHandle, namespace: str, component: Component) -> Resolved:
    """Find the component's workload (by name, else by pod selector) and its Services."""
    candidates = []
    for kind, lister in (
        ("Deployment", cluster.kube.apps.list_namespaced_deployment),
        ("StatefulSet", cluster.kube.apps.list_namespaced_stateful_set),
    ):
        for obj in lister(namespace).items:
            labels = obj.spec.template.metadata.labels or {}
            if (component.name and obj.metadata.name == component.name) or (
                not component.name and manifests.selects(component.selector, labels)
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
        or (not component.service and manifests.selects(svc.spec.selector, labels))
    )
    selector = ",".join(f"{k}={v}" for k, v in (obj.spec.selector.match_labels or {}).items())
    return Resolved(kind, obj.metadata.name, selector or component.selector, labels, services)


EXISTING_STACK_WAIT = 60.0  # seconds: a rollout still in progress when grading starts


def declared_replicas(cluster: ClusterHandle, namespace: str, found: Resolved) -> int:
    """The replica count the component's live workload declares (an unset count is Kubernetes' default, 1)."""
    read = (
        cluster.kube.apps.read_namespaced_deployment
        if found.kind == "Deployment"
        else cluster.kube.apps.read_namespaced_stateful_set
    )
    count = read(found.name, namespace).spec.replicas
    return 1 if count is None else int(count)


def wait_component(
    cluster: ClusterHandle, namespace: str, component: Component, timeout: float = timeouts.ROLLOUT
) -> Resolved:
    """Wait until the component exists and its workload has rolled out; on timeout show pods, events, logs.

    Grading a stack that is already deployed, nothing is being installed: a component that is not
    there now will not appear (no wait), and a rollout still going should be over within a minute.
    """
    existing = cluster.grading_existing
    if existing:
        timeout = min(timeout, EXISTING_STACK_WAIT)
    found = wait_for(
        f"a workload matching {component} in {namespace}",
        lambda: Check(True, resolve(cluster, namespace, component)),
        timeout=0 if existing else timeout,
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
    cluster: ClusterHandle, namespace: str, pod: str, *command: str, container: str | None = None, check: bool = True
) -> str:
    """Run a command in a pod's container (`kubectl exec`); its output, or a failure with it."""
    args = ["exec", "-n", namespace, pod]
    if container:
        args += ["-c", container]
    return cluster.kubectl_run(*args, "--", *command, check=check)


def pod_env(cluster: ClusterHandle, namespace: str, pod: str, name: str) -> str:
    """The value a running container actually sees for an environment variable."""
    return exec_in(cluster, namespace, pod, "printenv", name, check=False).strip()


# The container's processes are its PID 1 and that process's descendants, found by their parent
# (/proc/PID/status, read with the shell's own `read`: no fork per process). A process the
# runtime is exec'ing into the container (an exec probe's pg_isready) has its parent outside it
# and is left running: stopped in the middle of `runc exec`, it wedged the runtime's exec, each
# later exec probe of the container ended "unknown" after the runtime's 2-minute timeout instead
# of failing, and the kubelet never restarted a frozen PostgreSQL (CI, D10.2). Three passes: a
# process forked while a pass ran (a backend for a new connection) is stopped by the next one.
# crictl's own timeout is 2 s by default, too short on a loaded node: the script stops at any error
# and checks that PID 1 is stopped, so a freeze that did not happen is the harness's error, not a
# finding against the stack. A signal is delivered when its process next leaves the kernel: one
# running on the other core, or in an uninterruptible wait (disk), still reads R or D for a moment
# after kill returns (CI: "state R after SIGSTOP"), so PID 1's state is polled, 10 s at most.
FREEZE_SCRIPT = """
set -eu
init=$(crictl --timeout 60s inspect -o go-template --template '{{.info.pid}}' "$1")
case "$init" in ''|*[!0-9]*) echo "no PID for container $1: '$init'" >&2; exit 1;; esac
kill -STOP "$init"
stopped=" $init "
for pass in 1 2 3; do
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    case "$stopped" in *" $pid "*) continue;; esac
    ppid=
    while read -r key value; do
      if [ "$key" = PPid: ]; then ppid=$value; break; fi
    done 2>/dev/null < "$p/status" || continue
    case "$stopped" in
      *" $ppid "*) if kill -STOP "$pid" 2>/dev/null; then stopped="$stopped$pid "; fi;;
    esac
  done
done
tries=0
while :; do
  read -r stat < "/proc/$init/stat"
  state=${stat##*) }
  state=${state%% *}
  [ "$state" = T ] && break
  tries=$((tries + 1))
  [ "$tries" -lt 100 ] || { echo "PID $init of container $1 is still in state $state 10 s after SIGSTOP" >&2; exit 1; }
  sleep 0.1
done
echo "${stopped# }"
"""


def freeze_container(cluster: ClusterHandle, pod: Any, container: str) -> str:
    """SIGSTOP every process of a container, its PID 1 included, from the node (local kind only).

    A process cannot stop its own namespace's PID 1 from inside the container, and stopping
    only the workers lets gunicorn's master replace them: a hung container is all of it stopped.
    Returns the node's PIDs stopped, PID 1 first; raises when PID 1 could not be stopped.
    """
    if cluster.local_spec is None:
        raise KubedefisError("freezing a container needs access to the node: only on the local kind cluster")
    status = next(s for s in pod.status.container_statuses if s.name == container)
    container_id = status.container_id.split("://", 1)[-1]
    node = cluster.local_spec.node_container
    return run(["docker", "exec", node, "sh", "-c", FREEZE_SCRIPT, "freeze", container_id]).stdout.strip()


# --- the chart under test, rendered; what the checks read in it and in the live release ---------


def render(
    suite: SuiteOptions, preset: str, overrides: dict[str, Any] | None = None, *, preset_only: bool = False
) -> list[dict[str, Any]]:
    """`helm template` of the chart under test with the défi's values (hooks and test pods included).

    The values are those given with --values if any, like an install; preset_only renders the
    chart's own preset instead (to compare with another stage, e.g. "défi 11 has no cache").
    Grading a deployed stack whose target names no chart, the calling test is skipped
    (`suite.chart_under_test()`): our own chart is not what is graded.
    """
    chart = suite.chart_under_test()
    values = _render_values(suite, chart, preset, overrides, preset_only)
    return Helm(find_tool("helm")).template(chart, suite.target.release, values, namespace="kubedefis")


def render_sources(
    suite: SuiteOptions, preset: str, overrides: dict[str, Any] | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """`render`, each object with the template file that rendered it (`<chart>/charts/<sub>/templates/...`
    for a subchart's): which chart of the group's makes an object."""
    chart = suite.chart_under_test()
    values = _render_values(suite, chart, preset, overrides, preset_only=False)
    return Helm(find_tool("helm")).template_sources(chart, suite.target.release, values, namespace="kubedefis")


def _render_values(
    suite: SuiteOptions, chart: Path, preset: str, overrides: dict[str, Any] | None, preset_only: bool
) -> dict[str, Any]:
    named = suite.target.stages.get(preset) if preset_only else None
    if named:  # the group's own values files for that earlier stage (the target's `stages`)
        files: tuple[Path, ...] = tuple(Path(f) for f in named)
    elif preset_only:
        files = deploy.preset_files(preset, chart)
        if preset and not files[0].exists():
            pytest.skip(
                f"{chart} has no values/{preset}.yaml and the target names no stages: {preset}: "
                "no earlier stage of this chart to compare with"
            )
    else:
        files = values_files(suite, preset)
    return merge_values(load_values(files), overrides or {})


def find(objects: list[dict[str, Any]], kind: str, suffix: str) -> dict[str, Any]:
    """The rendered object of a kind whose name ends with a suffix (names carry the release prefix)."""
    found = [o for o in objects if o.get("kind") == kind and o["metadata"]["name"].endswith(suffix)]
    assert found, f"no {kind} named *{suffix} in the rendered chart ({[manifests.name_of(o) for o in objects]})"
    return found[0]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """A container's env as name -> value (or the valueFrom mapping)."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env") or []}


def fullname(suite: SuiteOptions) -> str:
    """The chart's resource prefix for the suite's release (kubedefis.fullname without override)."""
    return str(suite.target.release)[:40].rstrip("-")


def site_database(cluster: ClusterHandle, namespace: str, suite: SuiteOptions) -> tuple[str, str]:
    """(database, user) the site uses, from the live ConfigMap (values files may leave them to the defaults)."""
    data = cluster.kube.core.read_namespaced_config_map(f"{fullname(suite)}-config", namespace).data or {}
    return data["POSTGRES_DB"], data["POSTGRES_USER"]


def upgrade(
    cluster: ClusterHandle, suite: SuiteOptions, namespace: str, values: dict[str, Any], timeout: float = timeouts.HELM
) -> None:
    """`helm upgrade` of the suite's release with these values (raises with Helm's message if it fails)."""
    cluster.helm().upgrade_install(suite.chart, suite.target.release, namespace, values, timeout=timeout)


def a_running_pod(cluster: ClusterHandle, namespace: str, found: Resolved) -> Any:
    """One running pod of a component, or a failure that says which workload has none."""
    pods = running_pods(cluster, namespace, found.selector)
    assert pods, f"no running pod of {found.kind}/{found.name} ({found.selector}) in {namespace}"
    return pods[0]


def site_image(cluster: ClusterHandle, namespace: str, target: Target) -> str:
    """The image of the container that runs the site in a running api pod (discover.site_container: not a
    sidecar put first): the attacker of défis 17-18 runs on its Python."""
    api = resolve(cluster, namespace, target.component("api"))
    pod = manifests.live(a_running_pod(cluster, namespace, api))
    pod["kind"] = "Pod"
    services = discover.live_objects(cluster.kube, namespace, "Service")
    container, unknown = discover.site_container(services, pod, target.site_port, target.component("api").container)
    checks.require("the attacker's image (the api pod's site container)", unknown)
    if container is None or not container.get("image"):
        raise AssertionError(f"expected an image for the site's container of pod {manifests.name_of(pod)}, found none")
    return str(container["image"])
