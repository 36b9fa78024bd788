"""kube.why_stuck: a stage that cannot come up is named within a minute; one that may still come up is not."""

from __future__ import annotations

import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from kubernetes.client.exceptions import ApiException

from kubedefis.core import kube

NOW = datetime.datetime.now(datetime.UTC)


def obj(**fields: Any) -> SimpleNamespace:
    return SimpleNamespace(**fields)


def container(name: str = "app", waiting: str | None = None, restarts: int = 0, message: str = "") -> SimpleNamespace:
    state = obj(waiting=obj(reason=waiting, message=message) if waiting else None)
    last = obj(terminated=obj(exit_code=1, reason="Error")) if restarts else None
    return obj(name=name, state=state, restart_count=restarts, last_state=last)


def pod(
    name: str,
    *containers: SimpleNamespace,
    unschedulable_for: float | None = None,
    ready: bool = False,
    owner: str = "ReplicaSet",
) -> SimpleNamespace:
    conditions = [obj(type="Ready", status="True")] if ready else []
    if unschedulable_for is not None:
        since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=unschedulable_for)
        conditions.append(
            obj(type="PodScheduled", status="False", reason="Unschedulable", message="0/1 nodes: Insufficient cpu",
               last_transition_time=since)
        )  # fmt: skip
    return obj(
        metadata=obj(
            name=name, labels={}, deletion_timestamp=None, creation_timestamp=NOW, owner_references=[obj(kind=owner)]
        ),
        spec=obj(containers=[resources(cpu="500m", memory="256Mi")], init_containers=[], overhead=None),
        status=obj(
            phase="Running", init_container_statuses=[], container_statuses=list(containers), conditions=conditions
        ),
    )


def namespace(name: str, phase: str = "Active", suite: bool = False) -> SimpleNamespace:
    labels = {"kubedefis.io/created-by": "conformance"} if suite else {}
    return obj(metadata=obj(name=name, labels=labels), status=obj(phase=phase))


def resources(cpu: str = "0", memory: str = "0") -> SimpleNamespace:
    return obj(resources=obj(requests={"cpu": cpu, "memory": memory}))


def running(namespace: str, node: str, cpu: str, memory: str = "0") -> SimpleNamespace:
    """A pod on a node, holding its requests."""
    return obj(
        metadata=obj(namespace=namespace),
        spec=obj(node_name=node, containers=[resources(cpu, memory)], init_containers=[], overhead=None),
    )


def node(name: str = "kind", cpu: str = "2", memory: str = "8Gi") -> SimpleNamespace:
    return obj(
        metadata=obj(name=name), spec=obj(unschedulable=None), status=obj(allocatable={"cpu": cpu, "memory": memory})
    )


class FakeKube:
    def __init__(
        self,
        pods: list[Any],
        jobs: list[Any] = (),  # type: ignore[assignment]
        namespaces: list[Any] = (),  # type: ignore[assignment]
        nodes: list[Any] | None = None,
        on_nodes: list[Any] = (),  # type: ignore[assignment]
    ) -> None:
        items = lambda values: obj(items=list(values))  # noqa: E731

        def list_node() -> SimpleNamespace:
            if nodes is None:
                raise ApiException(status=403, reason="Forbidden")  # a teacher's kubeconfig may not read nodes
            return items(nodes)

        self.core = obj(
            list_namespaced_pod=lambda ns, label_selector="": items(pods),
            list_namespace=lambda: items(namespaces),
            list_node=list_node,
            list_pod_for_all_namespaces=lambda field_selector="": items(on_nodes),
            read_namespaced_pod_log=lambda *a, **k: "could not translate host name",
        )
        self.batch = obj(list_namespaced_job=lambda ns: items(jobs))


def test_pods_still_starting_are_not_stuck() -> None:
    assert kube.why_stuck(FakeKube([pod("a", container(waiting="ContainerCreating"))]), "ns") is None  # type: ignore[arg-type]


def test_an_image_the_node_lacks_is_named() -> None:
    found = kube.why_stuck(FakeKube([pod("api-1", container("api", "ErrImageNeverPull", message="no image"))]), "ns")  # type: ignore[arg-type]
    assert found and "api-1" in found and "ErrImageNeverPull" in found


def test_a_crash_loop_is_named_after_three_restarts_not_before() -> None:
    early = FakeKube([pod("api-1", container("api", "CrashLoopBackOff", restarts=2))])
    late = FakeKube([pod("api-1", container("api", "CrashLoopBackOff", restarts=3))])
    assert kube.why_stuck(early, "ns") is None  # type: ignore[arg-type]
    found = kube.why_stuck(late, "ns")  # type: ignore[arg-type]
    assert found and "crash-loops" in found and "last exit 1" in found


def test_a_job_failing_twice_is_named_with_its_logs() -> None:
    once = obj(metadata=obj(name="kd-migrate"), status=obj(conditions=[], failed=1, active=0))
    twice = obj(metadata=obj(name="kd-migrate"), status=obj(conditions=[], failed=2, active=0))
    assert kube.why_stuck(FakeKube([], [once]), "ns") is None  # type: ignore[arg-type]
    attempt = pod("kd-migrate-x", container("wait-for-db", restarts=0), owner="Job")
    database = pod("kd-postgresql-0", container("postgres"), ready=True)
    found = kube.why_stuck(FakeKube([attempt, database], [twice]), "ns")  # type: ignore[arg-type]
    assert found and "2 attempts failed" in found and "could not translate host name" in found


def test_a_job_failing_while_the_database_comes_up_is_given_its_retries() -> None:
    twice = obj(metadata=obj(name="kd-migrate"), status=obj(conditions=[], failed=2, active=0))
    attempt = pod("kd-migrate-x", container("wait-for-db", restarts=0), owner="Job")
    starting = pod("kd-postgresql-0", container("postgres", waiting="ContainerCreating"))
    assert kube.why_stuck(FakeKube([attempt, starting], [twice]), "ns") is None  # type: ignore[arg-type]
    gave_up = obj(metadata=obj(name="kd-migrate"), status=obj(conditions=[obj(type="Failed", status="True",
                  reason="BackoffLimitExceeded", message="")], failed=7))  # fmt: skip
    found = kube.why_stuck(FakeKube([attempt, starting], [gave_up]), "ns")  # type: ignore[arg-type]
    assert found and "BackoffLimitExceeded" in found


def test_a_job_attempt_running_after_two_failures_is_let_finish() -> None:
    """The database became reachable during the third attempt: it may get through (CI, défi 10)."""
    third = obj(metadata=obj(name="kd-migrate"), status=obj(conditions=[], failed=2, active=1))
    attempt = pod("kd-migrate-z", container("migrate"), owner="Job")
    database = pod("kd-postgresql-0", container("postgres"), ready=True)
    assert kube.why_stuck(FakeKube([attempt, database], [third]), "ns") is None  # type: ignore[arg-type]
    between = obj(metadata=obj(name="kd-migrate"), status=obj(conditions=[], failed=3, active=0))
    found = kube.why_stuck(FakeKube([attempt, database], [between]), "ns")  # type: ignore[arg-type]
    assert found and "3 attempts failed" in found


def test_unschedulable_pods_wait_while_another_stage_may_free_room() -> None:
    stuck = pod("api-1", container(waiting="ContainerCreating"), unschedulable_for=45)
    alone = FakeKube([stuck], namespaces=[namespace("ns", suite=True), namespace("kube-system")])
    beside_a_lane = FakeKube([stuck], namespaces=[namespace("ns", suite=True), namespace("other", suite=True)])
    going = FakeKube([stuck], namespaces=[namespace("ns"), namespace("old", phase="Terminating")])
    found = kube.why_stuck(alone, "ns")  # type: ignore[arg-type]
    assert found and "Insufficient cpu" in found
    assert kube.why_stuck(beside_a_lane, "ns") is None  # type: ignore[arg-type]
    assert kube.why_stuck(going, "ns") is None  # type: ignore[arg-type]
    recent = FakeKube([pod("api-1", unschedulable_for=5)], namespaces=[namespace("ns")])
    assert kube.why_stuck(recent, "ns") is None  # type: ignore[arg-type]


def test_unschedulable_pods_wait_only_for_room_that_other_stages_hold() -> None:
    """Beside another lane, a pod waits only if that lane's going would make room on a node: what
    kube-system, an add-on (défi 21's KubeVirt) or `make up`'s stack hold does not go (session 17:
    a hand-in's migrate Job waited 300 s for CPU held by add-ons)."""
    stuck = pod("kd-migrate-1", unschedulable_for=45)  # asks 500m
    lanes = [namespace("ns", suite=True), namespace("lane-2", suite=True), namespace("kubevirt")]
    lane_holds_room = [running("kube-system", "kind", "600m"), running("lane-2", "kind", "1200m")]
    addons_hold_room = [running("kube-system", "kind", "600m"), running("kubevirt", "kind", "1000m"),
                        running("lane-2", "kind", "300m")]  # fmt: skip
    memory_short = [running("kube-system", "kind", "100m", "8000Mi"), running("lane-2", "kind", "100m")]
    assert kube.why_stuck(FakeKube([stuck], namespaces=lanes, nodes=[node()], on_nodes=lane_holds_room), "ns") is None  # type: ignore[arg-type]
    found = kube.why_stuck(FakeKube([stuck], namespaces=lanes, nodes=[node()], on_nodes=addons_hold_room), "ns")  # type: ignore[arg-type]
    assert found and "kd-migrate-1 cannot be scheduled" in found and "Insufficient cpu" in found
    found = kube.why_stuck(FakeKube([stuck], namespaces=lanes, nodes=[node()], on_nodes=memory_short), "ns")  # type: ignore[arg-type]
    assert found and "cannot be scheduled" in found
    # a second node with room left once the lane goes: it may come
    two_nodes = [node("kind"), node("worker")]
    on_both = [*addons_hold_room, running("lane-2", "worker", "1800m")]
    assert kube.why_stuck(FakeKube([stuck], namespaces=lanes, nodes=two_nodes, on_nodes=on_both), "ns") is None  # type: ignore[arg-type]
    # without the rights to read nodes, another lane may still free room: wait, as before
    assert kube.why_stuck(FakeKube([stuck], namespaces=lanes, nodes=None), "ns") is None  # type: ignore[arg-type]


def test_a_pods_requests_count_its_largest_init_container_and_overhead() -> None:
    small_init = obj(spec=obj(containers=[resources("200m", "64Mi"), resources("300m")],
                              init_containers=[resources("400m", "1Gi")], overhead={"cpu": "50m"}))  # fmt: skip
    counted = kube.pod_requests(small_init)
    assert counted["cpu"] == Decimal("0.55") and counted["memory"] == Decimal(1024**3)
    none_asked = obj(spec=obj(containers=[obj(resources=None)], init_containers=None, overhead=None))
    assert kube.pod_requests(none_asked) == {"cpu": 0, "memory": 0}


def test_an_attempt_that_failed_with_everything_up_is_judgement_even_while_the_next_runs() -> None:
    """The Job controller started the next attempt in the sync that counted the failure: no "between"."""
    up_at = NOW - datetime.timedelta(seconds=300)
    database = pod("kd-postgresql-0", container("postgres"), ready=True)
    database.status.conditions[0].last_transition_time = up_at

    def attempt(name: str, started: datetime.datetime, phase: str) -> SimpleNamespace:
        found = pod(name, container("wait-for-db"), owner="Job")
        found.metadata.owner_references[0].name = "kd-migrate"
        found.status.phase, found.status.start_time = phase, started
        return found

    job = obj(metadata=obj(name="kd-migrate"), status=obj(conditions=[], failed=2, active=1))
    early = attempt("kd-migrate-1", up_at - datetime.timedelta(seconds=60), "Failed")  # the database was coming
    second = attempt("kd-migrate-2", up_at + datetime.timedelta(seconds=10), "Failed")  # everything was up
    third = attempt("kd-migrate-3", NOW, "Running")
    assert kube.why_stuck(FakeKube([database, early, third], [job]), "ns") is None  # type: ignore[arg-type]
    found = kube.why_stuck(FakeKube([database, early, second, third], [job]), "ns")  # type: ignore[arg-type]
    assert found and "2 attempts failed" in found


def _now() -> datetime.datetime:
    """Now, not NOW: why_stuck compares with the clock, and the whole unit suite takes minutes."""
    return datetime.datetime.now(datetime.UTC)


def _ready_since(found: SimpleNamespace, seconds: float) -> SimpleNamespace:
    found.status.conditions[0].last_transition_time = _now() - datetime.timedelta(seconds=seconds)
    return found


def _waiting(name: str, running_for: float, owner: str = "ReplicaSet") -> SimpleNamespace:
    found = pod(name, container("api", waiting="PodInitializing"), owner=owner)
    started = _now() - datetime.timedelta(seconds=running_for)
    found.status.init_container_statuses = [
        obj(name="wait-for-db", state=obj(waiting=None, running=obj(started_at=started)), restart_count=0)
    ]
    return found


def _database(ready_for: float) -> SimpleNamespace:
    found = _ready_since(pod("kd-postgresql-0", container("postgres"), ready=True), ready_for)
    found.metadata.labels = {"app.kubernetes.io/component": "database"}
    return found


DATABASE = kube.Dependency("app.kubernetes.io/component=database")


def test_an_init_container_still_waiting_once_the_database_is_up_is_named_with_its_log() -> None:
    """A wrong database host: the database is Ready, the stage's pods wait on (issue 11: fail fast)."""
    stage = [_database(ready_for=60), _waiting("kd-api-1", running_for=90), _waiting("kd-migrate-1", 90, "Job")]
    found = kube.why_stuck(FakeKube(stage), "ns", waited_for=DATABASE)  # type: ignore[arg-type]
    assert found and "kd-api-1" in found and "wait-for-db" in found and "kd-postgresql-0" in found
    assert "could not translate host name" in found  # what the container printed
    # without the dependency named, the same pods are no verdict yet (Jobs have not failed twice)
    assert kube.why_stuck(FakeKube(stage), "ns") is None  # type: ignore[arg-type]


def test_init_containers_are_given_the_grace_after_the_database_is_up() -> None:
    # the database just became Ready: DNS, endpoints and policies may lag a few seconds
    fresh = [_database(ready_for=20), _waiting("kd-api-1", running_for=90)]
    # the init container restarted recently: it may be the attempt that gets through
    restarted = [_database(ready_for=60), _waiting("kd-api-1", running_for=10)]
    # the database is not Ready (or there is none): nothing to judge by
    starting = pod("kd-postgresql-0", container("postgres", "ContainerCreating"))
    starting.metadata.labels = {"app.kubernetes.io/component": "database"}
    coming = [_waiting("kd-api-1", running_for=300), starting]
    for stage in (fresh, restarted, coming):
        assert kube.why_stuck(FakeKube(stage), "ns", waited_for=DATABASE) is None  # type: ignore[arg-type]
    alone = [_waiting("kd-api-1", running_for=300)]
    assert kube.why_stuck(FakeKube(alone), "ns", waited_for=DATABASE) is None  # type: ignore[arg-type]


def test_an_init_container_after_one_that_reached_the_database_is_working_not_waiting() -> None:
    """Session 14, `tox -e harness -n 3`: the migrate Job's api-token ran its migrations for over 45 s on a
    busy node, after wait-for-db had reached the database; the install was failed as stuck."""
    slow = _waiting("kd-migrate-1", running_for=90, owner="Job")
    first = obj(name="wait-for-db", state=obj(waiting=None, running=None, terminated=obj(exit_code=0)), restart_count=0)
    api_token = slow.status.init_container_statuses[0]
    api_token.name = "api-token"
    slow.status.init_container_statuses = [first, api_token]
    assert kube.why_stuck(FakeKube([_database(ready_for=60), slow]), "ns", waited_for=DATABASE) is None  # type: ignore[arg-type]
    # the same step first in its pod (nothing before it reached the database) is judged
    failed_first = obj(name="copy", state=obj(waiting=None, running=None, terminated=obj(exit_code=1)), restart_count=0)
    slow.status.init_container_statuses = [failed_first, api_token]
    found = kube.why_stuck(FakeKube([_database(ready_for=60), slow]), "ns", waited_for=DATABASE)  # type: ignore[arg-type]
    assert found and "api-token still waits" in found


def _job_pod(
    name: str, job: str, *containers: SimpleNamespace, unschedulable_for: float | None = None
) -> SimpleNamespace:
    found = pod(name, *containers, owner="Job", unschedulable_for=unschedulable_for)
    found.metadata.owner_references[0].name = job
    return found


def test_waiting_for_one_job_judges_that_job_and_its_pods_only() -> None:
    """A hand-in's migrate Job: the group's site may crash-loop until the tables exist, a broken add-on
    beside it is not the Job's to wait for; the Job's own pods are judged as any stage's."""
    migrate = obj(metadata=obj(name="migrate"), status=obj(conditions=[], failed=0, active=1))
    other = obj(metadata=obj(name="seed"), status=obj(conditions=[obj(type="Failed", status="True",
                reason="BackoffLimitExceeded", message="")], failed=7))  # fmt: skip
    site = pod("site-1", container("web", "CrashLoopBackOff", restarts=4))
    addon = pod("pgadmin-1", container("pgadmin", "ImagePullBackOff"))
    attempt = _job_pod("migrate-x", "migrate", container("migrate"))
    around = FakeKube([site, addon, attempt], [migrate, other])
    assert kube.why_stuck(around, "ns", job="migrate") is None  # type: ignore[arg-type]
    assert kube.why_stuck(around, "ns") is not None  # type: ignore[arg-type]  # the whole stage: named
    crashing = _job_pod("migrate-y", "migrate", container("migrate", "CrashLoopBackOff", restarts=3))
    found = kube.why_stuck(FakeKube([site, crashing], [migrate]), "ns", job="migrate")  # type: ignore[arg-type]
    assert found and "migrate-y" in found and "crash-loops" in found
    pending = _job_pod("migrate-z", "migrate", unschedulable_for=45)  # session 17: beside défi 21's add-ons
    lanes = [namespace("ns", suite=True), namespace("lane-2", suite=True), namespace("kubevirt")]
    held = [
        running("kube-system", "kind", "600m"),
        running("kubevirt", "kind", "1200m"),
        running("lane-2", "kind", "200m"),
    ]
    stuck = FakeKube([site, pending], [migrate], namespaces=lanes, nodes=[node()], on_nodes=held)
    found = kube.why_stuck(stuck, "ns", job="migrate")  # type: ignore[arg-type]
    assert found and "migrate-z cannot be scheduled" in found
    failed = obj(metadata=obj(name="migrate"), status=obj(conditions=[obj(type="Failed", status="True",
                 reason="BackoffLimitExceeded", message="")], failed=7))  # fmt: skip
    found = kube.why_stuck(FakeKube([site], [failed, other]), "ns", job="migrate")  # type: ignore[arg-type]
    assert found and "job migrate failed" in found
