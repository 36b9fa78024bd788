"""Kubernetes primitives shared by the provider, the deploy step and the conformance suite.

No test framework here: clients, readiness checks (as `waits.Check`s), and the
evidence (status, events, logs) printed when a wait or a check fails.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from kubedefis.core import paths
from kubedefis.core.errors import KubedefisError
from kubedefis.core.manifests import quantity, selects
from kubedefis.core.waits import Check, wait_for


@dataclass
class Kube:
    """API clients for one cluster, made from a kubeconfig and an optional context."""

    api_client: client.ApiClient
    kubeconfig: str
    context: str | None

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api_client)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api_client)

    @property
    def batch(self) -> client.BatchV1Api:
        return client.BatchV1Api(self.api_client)

    @property
    def discovery(self) -> client.DiscoveryV1Api:
        return client.DiscoveryV1Api(self.api_client)

    @property
    def networking(self) -> client.NetworkingV1Api:
        return client.NetworkingV1Api(self.api_client)

    @property
    def autoscaling(self) -> client.AutoscalingV2Api:
        return client.AutoscalingV2Api(self.api_client)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api_client)

    @property
    def authorization(self) -> client.AuthorizationV1Api:
        return client.AuthorizationV1Api(self.api_client)

    @property
    def apiregistration(self) -> client.ApiregistrationV1Api:
        return client.ApiregistrationV1Api(self.api_client)


def default_kubeconfig() -> str | None:
    """$KUBECONFIG (its first file), else the local kind cluster's, else None (~/.kube/config).

    The commands that act on a stack (`kubedefis db`, `kubedefis vm`) use it when no --kubeconfig is given.
    """
    if os.environ.get("KUBECONFIG"):
        return os.environ["KUBECONFIG"].split(os.pathsep)[0]
    local = paths.cache_root() / "clusters" / os.environ.get("KUBEDEFIS_CLUSTER", "kubedefis") / "kubeconfig"
    return str(local) if local.exists() else None


def connect(kubeconfig: str | Path | None = None, context: str | None = None, timeout: float = 10.0) -> Kube:
    """Load a kubeconfig and check the API server answers; one clear error otherwise."""
    path = str(Path(kubeconfig).expanduser()) if kubeconfig else str(Path("~/.kube/config").expanduser())
    if not Path(path).exists():
        raise KubedefisError(f"kubeconfig {path} does not exist (give --kubeconfig, or run `make up`)")
    try:
        api_client = config.new_client_from_config(config_file=path, context=context)
    except ConfigException as exc:
        raise KubedefisError(f"kubeconfig {path} is not usable: {exc}") from exc
    except Exception as exc:
        raise KubedefisError(f"kubeconfig {path} could not be read: {exc}") from exc
    try:
        client.VersionApi(api_client).get_code(_request_timeout=timeout)
    except (urllib3.exceptions.HTTPError, OSError, ApiException) as exc:
        server = api_client.configuration.host
        raise KubedefisError(
            f"the API server {server} (kubeconfig {path}, context {context or 'current'}) does not answer: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        ) from exc
    return Kube(api_client, path, context)


# --- readiness checks ----------------------------------------------------------------------------


def deployment_ready(kube: Kube, namespace: str, name: str) -> Check[Any]:
    """Done when the latest generation is rolled out and every replica is updated and available."""
    dep = kube.apps.read_namespaced_deployment(name, namespace)
    st = dep.status
    want = dep.spec.replicas if dep.spec.replicas is not None else 1
    updated, available, ready = st.updated_replicas or 0, st.available_replicas or 0, st.ready_replicas or 0
    total = st.replicas or 0
    done = (
        (st.observed_generation or 0) >= dep.metadata.generation
        and updated == want
        and available == want
        and total == want
    )
    state = f"deployment {namespace}/{name}: {ready}/{want} ready, {updated} updated, {available} available"
    if total != want:
        state += f", {total} pods in total"
    return Check(done, dep, state)


def statefulset_ready(kube: Kube, namespace: str, name: str) -> Check[Any]:
    sts = kube.apps.read_namespaced_stateful_set(name, namespace)
    st = sts.status
    want = sts.spec.replicas if sts.spec.replicas is not None else 1
    ready = st.ready_replicas or 0
    done = (
        (st.observed_generation or 0) >= sts.metadata.generation
        and ready == want
        and (st.updated_replicas or 0) == want
        and (st.current_revision == st.update_revision or want == 0)
    )
    return Check(done, sts, f"statefulset {namespace}/{name}: {ready}/{want} ready, revision {st.update_revision}")


def daemonset_ready(kube: Kube, namespace: str, name: str) -> Check[Any]:
    ds = kube.apps.read_namespaced_daemon_set(name, namespace)
    st = ds.status
    done = (
        (st.observed_generation or 0) >= ds.metadata.generation
        and st.desired_number_scheduled > 0
        and st.number_ready == st.desired_number_scheduled
        and (st.updated_number_scheduled or 0) == st.desired_number_scheduled
    )
    return Check(done, ds, f"daemonset {namespace}/{name}: {st.number_ready}/{st.desired_number_scheduled} ready")


def nodes_ready(kube: Kube) -> Check[Any]:
    nodes = kube.core.list_node().items
    states = []
    for node in nodes:
        ready = next((c.status for c in node.status.conditions or [] if c.type == "Ready"), "Unknown")
        states.append(f"{node.metadata.name}={ready}")
    done = bool(nodes) and all(s.endswith("=True") for s in states)
    return Check(done, nodes, "nodes: " + (", ".join(states) or "none"))


def apiservice_available(kube: Kube, name: str) -> Check[Any]:
    svc = kube.apiregistration.read_api_service(name)
    cond = next((c for c in svc.status.conditions or [] if c.type == "Available"), None)
    state = f"apiservice {name}: Available={cond.status if cond else 'Unknown'}"
    if cond and cond.status != "True":
        state += f" ({cond.reason}: {cond.message})"
    return Check(bool(cond and cond.status == "True"), svc, state)


def job_complete(kube: Kube, namespace: str, name: str) -> Check[Any]:
    job = kube.batch.read_namespaced_job(name, namespace)
    conds = {c.type: c for c in job.status.conditions or []}
    state = f"job {namespace}/{name}: {job.status.succeeded or 0} succeeded, {job.status.failed or 0} failed"
    return Check("Complete" in conds and conds["Complete"].status == "True", job, state)


def pod_ready(pod: Any) -> bool:
    """A pod (client model) whose Ready condition is True and that is not being deleted."""
    if pod.metadata.deletion_timestamp:
        return False
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


# Namespaces the suite makes for its stages carry this label: while another one exists (a namespace
# going away, or a stage of another lane), a pod waiting for room may get it.
SUITE_NAMESPACE_LABEL = "kubedefis.io/created-by=conformance"


def _room_may_come(kube: Kube, namespace: str, pod: Any) -> bool:
    """Whether a pod the scheduler refused may get a node's room once other stages of the suite go.

    Room comes only from namespaces that go away: one already Terminating, or another stage of the
    suite (another lane). Whatever else holds the node (kube-system, an add-on such as KubeVirt, a
    stack `make up` deployed, this stage's own pods) stays; a pod that would not fit beside it on any
    node waits for nothing (measured: a hand-in's migrate Job Pending for "Insufficient cpu" beside
    défi 21's add-ons cost the whole 300 s). Without the rights to read nodes, the answer is whether
    any namespace may go, as before.
    """
    going = {
        ns.metadata.name
        for ns in kube.core.list_namespace().items
        if ns.metadata.name != namespace
        and (
            ns.status.phase == "Terminating"
            or (ns.metadata.labels or {}).get("kubedefis.io/created-by") == "conformance"
        )
    }
    if not going:
        return False
    try:
        nodes = [n for n in kube.core.list_node().items if not n.spec.unschedulable]
        running = kube.core.list_pod_for_all_namespaces(
            field_selector="status.phase!=Succeeded,status.phase!=Failed"
        ).items
    except ApiException:
        return True
    wanted = pod_requests(pod)
    for node in nodes:
        staying = [p for p in running if p.spec.node_name == node.metadata.name and p.metadata.namespace not in going]
        allocatable = node.status.allocatable or {}
        if all(
            sum((pod_requests(p).get(resource, Decimal(0)) for p in staying), Decimal(0)) + amount
            <= (quantity(allocatable.get(resource)) or Decimal(0))
            for resource, amount in wanted.items()
        ):
            return True
    return False


def pod_requests(pod: Any) -> dict[str, Decimal]:
    """What the scheduler counts for a pod (client model): its containers' CPU and memory requests
    summed, or its largest init container's if larger, plus the runtime class's overhead."""
    counted: dict[str, Decimal] = {}
    for resource in ("cpu", "memory"):

        def asked(container: Any, resource: str = resource) -> Decimal:
            requests = (container.resources.requests if container.resources else None) or {}
            return quantity(requests.get(resource)) or Decimal(0)

        main = sum((asked(c) for c in pod.spec.containers or []), Decimal(0))
        init = max((asked(c) for c in pod.spec.init_containers or []), default=Decimal(0))
        overhead = quantity((pod.spec.overhead or {}).get(resource)) or Decimal(0)
        counted[resource] = max(main, init) + overhead
    return counted


# Waiting reasons that no amount of waiting fixes: the node lacks the image, the spec is wrong.
HOPELESS_WAITING = {"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName", "CreateContainerError"}
# A Job attempt may fail once for a slow start (a database still initialising on a loaded node);
# two failed attempts are a pattern (a wrong host, a bad migration).
JOB_ATTEMPTS_BEFORE_GIVING_UP = 2
CRASH_LOOPS_BEFORE_GIVING_UP = 3  # restarts in CrashLoopBackOff (10 s, 20 s, 40 s back-off: about a minute)
UNSCHEDULABLE_GRACE = 30.0  # seconds a pod may stay unschedulable (room freed by another namespace going)


def _stage_pods(pods: list[Any]) -> list[Any]:
    """The pods a Job's attempts may wait for: not a Job's, not going, not finished."""
    found = []
    for pod in pods:
        owners = getattr(pod.metadata, "owner_references", None) or []
        if pod.metadata.deletion_timestamp or any(o.kind == "Job" for o in owners):
            continue
        if getattr(pod.status, "phase", None) not in ("Succeeded", "Failed"):
            found.append(pod)
    return found


def _still_coming(pods: list[Any]) -> list[str]:
    """Pods that are not a Job's and not Ready yet: what a Job's attempts may be waiting for."""
    return [pod.metadata.name for pod in _stage_pods(pods) if not pod_ready(pod)]


def _owned_by_job(pod: Any, job: str) -> bool:
    owners = getattr(pod.metadata, "owner_references", None) or []
    return any(o.kind == "Job" and getattr(o, "name", None) == job for o in owners)


def _failed_with_everything_up(job: str, pods: list[Any]) -> bool:
    """Whether an attempt of the Job started after the namespace's other pods were all Ready, and failed."""
    since = None
    for pod in _stage_pods(pods):
        ready = next((c for c in pod.status.conditions or [] if c.type == "Ready" and c.status == "True"), None)
        at = getattr(ready, "last_transition_time", None)
        if at is None:
            return False  # not Ready, or no time to compare with: let the attempts run
        since = at if since is None else max(since, at)
    for pod in pods:
        started = getattr(pod.status, "start_time", None)
        if (
            _owned_by_job(pod, job)
            and getattr(pod.status, "phase", None) == "Failed"
            and started is not None
            and (since is None or started >= since)
        ):
            return True
    return False


@dataclass(frozen=True)
class Dependency:
    """Pods that the stage's init containers wait for (the database), found by a label selector.

    Once every one of them has been Ready for `grace` seconds, a pod's first init container still
    running (none before it succeeded) for that long waits for something else (a host no Service
    has, a wrong port, a policy that drops its packets): waiting on will not help. The grace covers
    what makes a Ready pod reachable a little later: its endpoints published, the DNS answers
    (CoreDNS caches a name that did not resolve for 5 s) and the network policies programmed for a
    new pod.
    """

    selector: str
    grace: float = 45.0


def _waiting_past_dependency(
    kube: Kube, namespace: str, pods: list[Any], dependency: Dependency, now: datetime.datetime
) -> str | None:
    waited = [p for p in _stage_pods(pods) if selects(dependency.selector, p.metadata.labels)]
    if not waited or not all(pod_ready(p) for p in waited):
        return None
    ready_times = [
        next((c.last_transition_time for c in p.status.conditions or [] if c.type == "Ready"), None) for p in waited
    ]
    if any(t is None for t in ready_times):
        return None
    up_since = max(t for t in ready_times if t is not None)
    if (now - up_since).total_seconds() < dependency.grace:
        return None
    for pod in pods:
        if pod.metadata.deletion_timestamp or pod in waited:
            continue
        passed_a_step = False
        for cs in pod.status.init_container_statuses or []:
            terminated = getattr(cs.state, "terminated", None)
            if terminated is not None and terminated.exit_code == 0:
                passed_a_step = True  # what runs after it got that far: working, not waiting
                continue
            running = cs.state.running if cs.state else None
            started = getattr(running, "started_at", None)
            # A step after one that succeeded (our migrate Job's api-token after wait-for-db reached the
            # database) may take minutes on a busy node: only a first step still running is judged.
            if passed_a_step or started is None or (now - started).total_seconds() < dependency.grace:
                continue
            try:
                tail = kube.core.read_namespaced_pod_log(pod.metadata.name, namespace, container=cs.name, tail_lines=2)
            except ApiException:
                tail = ""
            names = ", ".join(p.metadata.name for p in waited)
            return (
                f"pod {pod.metadata.name} init container {cs.name} still waits, "
                f"{(now - up_since).total_seconds():.0f} s after {names} became Ready:\n{tail.rstrip()}"
            ).rstrip()
    return None


def why_stuck(kube: Kube, namespace: str, waited_for: Dependency | None = None, job: str | None = None) -> str | None:
    """Why the namespace's pods or Jobs will not come up by waiting longer, or None while they still may.

    A stage that cannot come up (an image the node lacks, a container crash-looping, a Job that
    gave up, pods that no node can take, init containers still waiting once what they wait for is
    up) is reported within about a minute, with what was found, instead of waiting out a Helm or
    rollout deadline. Pods waiting for CPU are given that minute only when no other stage of the
    suite may free some (see _room_may_come).

    With `job`, what is waited for is that Job (a hand-in's migrations, a backup): only it and its
    pods are judged. A group's other pods are not the Job's to wait for: its site may restart until
    the migrations are in, and a broken add-on beside it must not stop a backup.
    """
    now = datetime.datetime.now(datetime.UTC)
    pods = kube.core.list_namespaced_pod(namespace).items
    if waited_for is not None:
        found = _waiting_past_dependency(kube, namespace, pods, waited_for, now)
        if found:
            return found
    coming = _still_coming(pods)
    for found_job in kube.batch.list_namespaced_job(namespace).items:
        if job is not None and found_job.metadata.name != job:
            continue
        for cond in found_job.status.conditions or []:
            if cond.type == "Failed" and cond.status == "True":
                return f"job {found_job.metadata.name} failed: {cond.reason} {cond.message or ''}".strip()
        # Attempts that failed while the pods they wait for (the database) were still coming up
        # are no pattern yet: the Job retries up to its backoffLimit. An attempt running now may
        # be the one that gets through (the database became reachable during it): the Job is
        # judged between attempts, when its last one failed too.
        # The controller often starts the next attempt in the sync that counts the last failure
        # (its back-off already spent while the attempt ran): "between attempts" may never be seen.
        # An attempt that started with every other pod Ready and still failed is judgement enough.
        active = found_job.status.active or 0
        if (
            (found_job.status.failed or 0) >= JOB_ATTEMPTS_BEFORE_GIVING_UP
            and not coming
            and (not active or _failed_with_everything_up(found_job.metadata.name, pods))
        ):
            logs = pod_logs(kube, namespace, f"job-name={found_job.metadata.name}", tail=8)
            return f"job {found_job.metadata.name}: {found_job.status.failed} attempts failed\n{logs}"
    for pod in pods:
        if pod.metadata.deletion_timestamp or (job is not None and not _owned_by_job(pod, job)):
            continue
        name = pod.metadata.name
        for cs in [*(pod.status.init_container_statuses or []), *(pod.status.container_statuses or [])]:
            waiting = cs.state.waiting if cs.state else None
            if waiting and waiting.reason in HOPELESS_WAITING:
                return f"pod {name} container {cs.name}: {waiting.reason}: {waiting.message or ''}".strip()
            if waiting and waiting.reason == "CrashLoopBackOff" and cs.restart_count >= CRASH_LOOPS_BEFORE_GIVING_UP:
                last = cs.last_state.terminated if cs.last_state else None
                exit_info = f" (last exit {last.exit_code}: {last.reason})" if last else ""
                return f"pod {name} container {cs.name} crash-loops, {cs.restart_count} restarts{exit_info}"
        scheduled = next((c for c in pod.status.conditions or [] if c.type == "PodScheduled"), None)
        if scheduled and scheduled.status == "False" and scheduled.reason == "Unschedulable":
            since = scheduled.last_transition_time or pod.metadata.creation_timestamp
            waited = since is not None and (now - since).total_seconds() > UNSCHEDULABLE_GRACE
            if waited and not _room_may_come(kube, namespace, pod):
                return f"pod {name} cannot be scheduled: {scheduled.message}"
    return None


# --- evidence -----------------------------------------------------------------------------------


def recent_events(kube: Kube, namespace: str, name_prefix: str = "", limit: int = 15) -> str:
    """The namespace's latest events, optionally for objects whose name starts with a prefix."""
    try:
        events = kube.core.list_namespaced_event(namespace).items
    except ApiException as exc:
        return f"(events of {namespace} not readable: {exc.status} {exc.reason})"
    epoch = datetime.datetime.min.replace(tzinfo=datetime.UTC)
    selected = [e for e in events if e.involved_object.name.startswith(name_prefix)]
    selected.sort(key=lambda e: e.last_timestamp or e.event_time or e.metadata.creation_timestamp or epoch)
    lines = [
        f"  {e.type} {e.reason} {e.involved_object.kind}/{e.involved_object.name}: {(e.message or '').strip()}"
        + (f" (x{e.count})" if e.count and e.count > 1 else "")
        for e in selected[-limit:]
    ]
    return (
        f"recent events in {namespace}"
        + (f" for {name_prefix}*" if name_prefix else "")
        + ":\n"
        + ("\n".join(lines) or "  (none)")
    )


def pod_summary(kube: Kube, namespace: str, label_selector: str = "") -> str:
    pods = kube.core.list_namespaced_pod(namespace, label_selector=label_selector).items
    lines = []
    for pod in pods:
        statuses = []
        for cs in pod.status.container_statuses or []:
            state = cs.state
            if state.waiting:
                detail = f"waiting {state.waiting.reason}"
            elif state.terminated:
                detail = f"terminated {state.terminated.reason} (exit {state.terminated.exit_code})"
            else:
                detail = "running"
            statuses.append(f"{cs.name}:{detail},ready={cs.ready},restarts={cs.restart_count}")
        lines.append(f"  {pod.metadata.name} {pod.status.phase} {' '.join(statuses)}")
    return (
        f"pods in {namespace}"
        + (f" ({label_selector})" if label_selector else "")
        + ":\n"
        + ("\n".join(lines) or "  (none)")
    )


def pod_logs(kube: Kube, namespace: str, label_selector: str = "", tail: int = 30) -> str:
    out = []
    for pod in kube.core.list_namespaced_pod(namespace, label_selector=label_selector).items:
        for cs in [*(pod.status.init_container_statuses or []), *(pod.status.container_statuses or [])]:
            for previous in (False, True):
                if previous and not cs.restart_count:
                    continue
                try:
                    text = kube.core.read_namespaced_pod_log(
                        pod.metadata.name, namespace, container=cs.name, tail_lines=tail, previous=previous
                    )
                except ApiException:
                    continue
                label = " (previous)" if previous else ""
                out.append(f"--- logs {pod.metadata.name}/{cs.name}{label}:\n{text.rstrip()}")
    return "\n".join(out)


def evidence(kube: Kube, namespace: str, name_prefix: str = "", label_selector: str = "") -> str:
    parts = []
    for part in (
        lambda: pod_summary(kube, namespace, label_selector),
        lambda: recent_events(kube, namespace, name_prefix),
    ):
        try:
            parts.append(part())
        except Exception as exc:
            parts.append(f"(evidence unavailable: {exc})")
    return "\n".join(parts)


def wait_deployment(kube: Kube, namespace: str, name: str, timeout: float) -> Any:
    return wait_for(
        f"deployment {namespace}/{name} to be available",
        lambda: deployment_ready(kube, namespace, name),
        timeout=timeout,
        evidence=lambda: evidence(kube, namespace, name),
    )


def wait_job(
    kube: Kube,
    namespace: str,
    name: str,
    timeout: float,
    what: str = "",
    logs: Callable[[], str] | None = None,
) -> Any:
    """Wait for a Job to complete; one that will not (it failed, its pods crash-loop, lack an image or
    room no other stage will free) stops the wait within about a minute, with why (why_stuck)."""

    def shown() -> str:
        found = evidence(kube, namespace, name)
        return f"{found}\n{logs()}" if logs else found

    return wait_for(
        what or f"job {namespace}/{name}",
        lambda: job_complete(kube, namespace, name),
        timeout=timeout,
        evidence=shown,
        fail_fast=lambda _: why_stuck(kube, namespace, job=name),
    )
