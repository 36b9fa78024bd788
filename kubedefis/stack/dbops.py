"""`kubedefis db`: the stack's database operations, on the local cluster or any kubeconfig.

    kubedefis db status  [-n NS] [--release R]                 nodes, roles, replication
    kubedefis db promote [-n NS] [--release R] [--to POD] [--force]
    kubedefis db backup  [-n NS] [--release R] [--label L]      a backup now (the CronJob's pod)
    kubedefis db backups [-n NS] [--release R]                  the backups on the volume
    kubedefis db restore [-n NS] [--release R] [--backup NAME]  put one back (default: latest)

`promote` is the failover of the replication subchart (défis 12-13), done by hand as an
operator would: pick the replica that received the most WAL, record it as the primary in
the topology ConfigMap (so any node that restarts takes its new role), fence the old primary,
promote the replica (pg_promote), point the write Service at it, give the other nodes their
replication slots on it, relabel the pods. The old primary, when it comes back, rejoins as
a replica by itself (pg_rewind in the image's entrypoint).

`backup` and `restore` run Jobs made from the pod template of the backup CronJob (défi 16), or
of the pre-upgrade backup hook (défi 15): same image, credentials, volume and network access.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException

from kubedefis.core import kube, manifests
from kubedefis.core.errors import KubedefisError
from kubedefis.core.shell import Status, run
from kubedefis.core.tools import find_tool
from kubedefis.core.waits import Check, wait_for
from kubedefis.stack import database as pg

DEFAULT_NAMESPACE = os.environ.get("KUBEDEFIS_NAMESPACE", "kubedefis")
DEFAULT_RELEASE = os.environ.get("KUBEDEFIS_HELM_RELEASE", "kubedefis")
ROLE_LABEL = "kubedefis.io/role"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
JOB_TIMEOUT = float(os.environ.get("KUBEDEFIS_DB_JOB_TIMEOUT", "600"))
PROMOTE_TIMEOUT = float(os.environ.get("KUBEDEFIS_DB_PROMOTE_TIMEOUT", "120"))


@dataclass(frozen=True)
class Database:
    """Where the commands act: a cluster (client and kubectl flags), a namespace, a release."""

    kube: kube.Kube
    kubectl: tuple[str, ...]
    namespace: str
    release: str

    def node(self, pod: Any) -> pg.Node:
        """A PostgreSQL node (`pod`: its name or the pod), its container found from the pod (pg.pod_node)."""
        return pg.pod_node(self.kubectl, self.kube, self.namespace, pod)


def connect(kubeconfig: str | None, context: str | None, namespace: str, release: str) -> Database:
    client = kube.connect(kubeconfig or kube.default_kubeconfig(), context)
    command = [str(find_tool("kubectl")), "--kubeconfig", str(client.kubeconfig)]
    if client.context:
        command += ["--context", client.context]
    return Database(client, tuple(command), namespace, release)


# --- topology -------------------------------------------------------------------------------------


@dataclass
class Topology:
    """The replication subchart's topology ConfigMap: who is primary, who the members are."""

    configmap: str
    primary: str
    members: list[str]
    write_service: str
    read_service: str

    @classmethod
    def read(cls, db: Database) -> Topology:
        selector = f"app.kubernetes.io/instance={db.release}"
        found = [
            cm
            for cm in db.kube.core.list_namespaced_config_map(db.namespace, label_selector=selector).items
            if cm.metadata.name.endswith("-postgresql-topology")
        ]
        if not found:
            raise KubedefisError(
                f"no replication topology in {db.namespace} for release {db.release} "
                "(is replication.enabled on? `--release` and `-n` name the release)"
            )
        data = found[0].data or {}
        return cls(
            found[0].metadata.name,
            data.get("primary", ""),
            data.get("members", "").split(),
            data.get("writeService", ""),
            data.get("readService", ""),
        )


def _pod(db: Database, name: str) -> Any | None:
    try:
        return db.kube.core.read_namespaced_pod(name, db.namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


@dataclass
class NodeState:
    pod: str
    phase: str
    ready: bool
    role: str  # label
    recovery: bool | None  # None: not answering
    received: int = 0
    replayed: int = 0
    error: str = ""


def node_state(db: Database, name: str) -> NodeState:
    pod = _pod(db, name)
    if pod is None:
        return NodeState(name, "absent", False, "", None, error="no pod")
    role = (pod.metadata.labels or {}).get(ROLE_LABEL, "")
    state = NodeState(name, pod.status.phase or "?", kube.pod_ready(pod), role, None)
    if pod.status.phase != "Running" or pod.metadata.deletion_timestamp:
        state.error = "not running"
        return state
    try:
        state.recovery, state.received, state.replayed = pg.wal_positions(db.node(pod))
    except Exception as exc:  # a node that does not answer is a state, not a crash of the command
        state.error = str(exc).splitlines()[0][:200]
    return state


def status(db: Database) -> str:
    topology = Topology.read(db)
    lines = [f"topology {topology.configmap}: primary {topology.primary}, write {topology.write_service}"]
    for member in topology.members:
        st = node_state(db, member)
        what = {True: "standby", False: "primary", None: "?"}[st.recovery]
        lines.append(
            f"  {member}: {st.phase}, ready={st.ready}, role label={st.role or '-'}, answers as {what}"
            + (f", received {st.received:X} replayed {st.replayed:X}" if st.recovery else "")
            + (f" ({st.error})" if st.error else "")
        )
    primary = next((m for m in topology.members if node_state(db, m).recovery is False), None)
    if primary:
        for standby in pg.standbys(db.node(primary)):
            lines.append(
                f"  streaming to {standby.name} ({standby.address}): {standby.state}, {standby.sync_state}, "
                f"{standby.replay_lag_bytes} bytes behind"
            )
    return "\n".join(lines)


# --- promote --------------------------------------------------------------------------------------


@dataclass
class Promotion:
    old_primary: str
    new_primary: str
    candidates: dict[str, tuple[int, int]]  # pod -> (received, replayed)
    steps: list[tuple[str, float]] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(s for _, s in self.steps)


def _choose(db: Database, topology: Topology, wanted: str | None) -> tuple[str, dict[str, tuple[int, int]]]:
    candidates: dict[str, tuple[int, int]] = {}
    problems = []
    replicas = [member for member in topology.members if member != topology.primary]
    # Asked side by side: each answer is a `kubectl exec` of a second or more on a busy node, and
    # the writes wait for the promotion meanwhile.
    with ThreadPoolExecutor(max_workers=max(1, len(replicas))) as pool:
        states = list(pool.map(lambda member: node_state(db, member), replicas))
    for member, st in zip(replicas, states, strict=True):
        if st.recovery:
            candidates[member] = (st.received, st.replayed)
        else:
            problems.append(f"{member}: {st.error or ('not a standby' if st.recovery is False else st.phase)}")
    if not candidates:
        raise KubedefisError("no replica can be promoted: " + "; ".join(problems))
    if wanted:
        if wanted not in candidates:
            raise KubedefisError(f"{wanted} cannot be promoted (candidates: {sorted(candidates)}; {problems})")
        return wanted, candidates
    # The most WAL received wins: with synchronous replication it holds every acknowledged commit.
    best = max(candidates, key=lambda m: (candidates[m], m))
    return best, candidates


def fence(db: Database, pod: str, timeout: float) -> None:
    """Delete a pod and wait until no server of that name answers as a primary any more."""
    db.kube.core.delete_namespaced_pod(pod, db.namespace)

    def stopped() -> Check[None]:
        st = node_state(db, pod)
        return Check(st.recovery is not False, None, f"{pod}: {st.phase}, primary={st.recovery is False}")

    wait_for(f"the old primary {pod} to stop", stopped, timeout=timeout, interval=0.5)


def _direct_host(db: Database, pod_name: str) -> str:
    """The pod's own DNS name through its StatefulSet's governing (headless) Service."""
    pod = db.kube.core.read_namespaced_pod(pod_name, db.namespace)
    owner = next((o.name for o in pod.metadata.owner_references or [] if o.kind == "StatefulSet"), None)
    if owner is None:
        raise KubedefisError(f"{pod_name} belongs to no StatefulSet: no stable name to stream from")
    service = db.kube.apps.read_namespaced_stateful_set(owner, db.namespace).spec.service_name
    return f"{pod_name}.{service}.{db.namespace}.svc"


def _repoint_receivers(db: Database, topology: Topology, new: str) -> None:
    """Restart each running replica's WAL receiver on the new primary's own address.

    A receiver that reconnects through the write Service while kube-proxy still sends it to the
    gone primary hangs for seconds, and with synchronous replication every commit waits for it.
    Changing primary_conninfo and reloading restarts the receiver at once (PostgreSQL 13+); the
    entrypoint drops this override at the next start, when the topology decides again.
    """
    host = _direct_host(db, new)
    for member in topology.members:
        pod = None if member == new else _pod(db, member)
        if pod is None:
            continue
        node = db.node(pod)  # the pod just read: no second read, and no error if it went meanwhile
        try:
            current = node.value("SHOW primary_conninfo")
        except pg.PsqlError:
            continue  # not answering: it takes the new primary from the topology when it restarts
        if not current:
            continue
        conninfo = re.sub(r"(^|\s)host=\S+", lambda m: f"{m.group(1)}host={host}", current)
        node.sql(f"ALTER SYSTEM SET primary_conninfo = {_sql_literal(conninfo)}")
        node.sql("SELECT pg_reload_conf()")


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def promote(
    db: Database,
    *,
    to: str | None = None,
    force: bool = False,
    status_: Status | None = None,
    timeout: float = PROMOTE_TIMEOUT,
) -> Promotion:
    """Fail over to a replica. Refuses while the primary answers as a primary, unless force."""
    out = status_ or Status()
    k, ns = db.kube, db.namespace
    topology = Topology.read(db)
    old = topology.primary
    old_state = node_state(db, old)
    if old_state.recovery is False and old_state.ready and not force:
        raise KubedefisError(
            f"the primary {old} is up and answering: nothing to fail over (--force promotes anyway, "
            "and the old primary restarts as a replica)"
        )
    result = Promotion(old, "", {})

    def step(title: str, action: Callable[[], Any]) -> Any:
        start = time.monotonic()
        with out.step(title):
            value = action()
        result.steps.append((title, time.monotonic() - start))
        return value

    def set_primary(name: str) -> None:
        data = {"primary": name, "previousPrimary": old}
        if name:
            data["promotedAt"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        k.core.patch_namespaced_config_map(topology.configmap, ns, {"data": data})

    # 1. Fence the old primary before looking at the replicas: with no primary named in the
    #    topology a node that (re)starts refuses to run at all, so the old primary, once its pod
    #    is gone, cannot come back and acknowledge commits the chosen replica would miss.
    step(f"clearing the primary in {topology.configmap} (fencing)", lambda: set_primary(""))
    if _pod(db, old) is not None:
        step(f"fencing the old primary {old} (deleting its pod)", lambda: fence(db, old, timeout))
    # 2. Choose: the replica that received the most WAL holds every acknowledged commit.
    try:
        new, candidates = step("choosing the most advanced replica", lambda: _choose(db, topology, to))
    except KubedefisError:
        set_primary(old)  # nothing to promote: let the old primary come back as it was
        raise
    result.new_primary, result.candidates = new, candidates
    # The topology names the new primary: a restarting node takes its role from it from now on.
    step(f"recording {new} as the primary in {topology.configmap}", lambda: set_primary(new))

    # 3. Promote: the replica replays what it received, then leaves recovery on a new timeline.
    def do_promote() -> None:
        answer = db.node(new).value("SELECT pg_promote(true, 60)", timeout=90)
        if answer != "t":
            raise KubedefisError(f"pg_promote on {new} answered {answer!r}")

    step(f"promoting {new} (pg_promote)", do_promote)
    # 4. Writes: the write Service selects the primary by pod name.
    step(
        f"pointing {topology.write_service} at {new}",
        lambda: k.core.patch_namespaced_service(
            topology.write_service, ns, {"spec": {"selector": {POD_NAME_LABEL: new}}}
        ),
    )

    # 5. The other nodes stream from the new primary through their own slots.
    def slots() -> None:
        primary = db.node(new)
        for member in topology.members:
            if member == new:
                continue
            slot = pg.slot_name(member)
            primary.sql(
                f"SELECT pg_create_physical_replication_slot('{slot}', true)"
                f" WHERE NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = '{slot}')"
            )

    step(f"creating the replication slots on {new}", slots)
    step(f"pointing the other replicas' WAL receivers at {new}", lambda: _repoint_receivers(db, topology, new))

    # 6. Reads: the read Service takes replicas only.
    def relabel() -> None:
        for member in topology.members:
            if _pod(db, member) is not None:
                role = "primary" if member == new else "replica"
                k.core.patch_namespaced_pod(member, ns, {"metadata": {"labels": {ROLE_LABEL: role}}})

    step("relabelling the pods (kubedefis.io/role)", relabel)

    # 7. Done when the write Service's endpoint is the new primary, Ready.
    def serving() -> Check[None]:
        slices = k.discovery.list_namespaced_endpoint_slice(
            ns, label_selector=f"kubernetes.io/service-name={topology.write_service}"
        ).items
        endpoints = [
            (e.target_ref.name if e.target_ref else "?", bool(e.conditions and e.conditions.ready))
            for s in slices
            for e in s.endpoints or []
        ]
        return Check(endpoints == [(new, True)], None, f"{topology.write_service} endpoints: {endpoints}")

    step(
        f"waiting for {topology.write_service} to serve {new}",
        lambda: wait_for(
            f"{topology.write_service} to route to {new}",
            serving,
            timeout=timeout,
            interval=0.5,
            evidence=lambda: kube.evidence(k, ns, label_selector=f"app.kubernetes.io/instance={db.release}"),
        ),
    )
    return result


# --- backups --------------------------------------------------------------------------------------


@dataclass
class BackupTemplate:
    """A Job spec to copy for backup pods, and where it came from."""

    spec: dict[str, Any]
    source: str  # "cronjob" or "hook"
    name: str


def _backup_template(db: Database) -> BackupTemplate:
    """The Job spec of the backup CronJob, else of the pre-upgrade backup hook Job."""
    selector = f"app.kubernetes.io/instance={db.release},app.kubernetes.io/component=backup"
    for cronjob in db.kube.batch.list_namespaced_cron_job(db.namespace, label_selector=selector).items:
        return BackupTemplate(manifests.live(cronjob)["spec"]["jobTemplate"]["spec"], "cronjob", cronjob.metadata.name)
    hooks = db.kube.batch.list_namespaced_job(
        db.namespace, label_selector=f"app.kubernetes.io/instance={db.release},kubedefis.io/hook=backup"
    ).items
    if hooks:
        spec = manifests.live(hooks[0])["spec"]
        spec.pop("selector", None)
        labels = spec["template"]["metadata"].get("labels", {})
        for key in list(labels):
            if "controller-uid" in key or key in ("job-name", "batch.kubernetes.io/job-name"):
                labels.pop(key)
        return BackupTemplate(spec, "hook", hooks[0].metadata.name)
    raise KubedefisError(
        f"no backup CronJob (backup.enabled) nor backup hook Job (hooks.enabled) for release {db.release} "
        f"in {db.namespace}"
    )


@dataclass
class JobRun:
    name: str
    log: str
    seconds: float


def run_backup_job(db: Database, kind: str, command: list[str] | None, *, timeout: float = JOB_TIMEOUT) -> JobRun:
    """A Job with the backup pod template (and another command, unless None); waits; returns its log."""
    template = _backup_template(db)
    spec = template.spec
    if command is None:
        if template.source != "cronjob":
            raise KubedefisError(f"no backup CronJob to run (only the hook Job {template.name})")
        command = spec["template"]["spec"]["containers"][0].get("command") or []
    name = f"{db.release[:30]}-{kind}-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}"
    spec["backoffLimit"] = 0
    spec["ttlSecondsAfterFinished"] = 3600
    spec.pop("completions", None)
    spec.pop("parallelism", None)
    spec["template"]["spec"]["containers"][0]["command"] = command
    labels = {**spec["template"]["metadata"].get("labels", {}), "kubedefis.io/db-command": kind}
    spec["template"]["metadata"]["labels"] = labels
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
    }
    k, ns = db.kube, db.namespace
    start = time.monotonic()
    k.batch.create_namespaced_job(ns, job)

    def logs() -> str:
        return kube.pod_logs(k, ns, f"job-name={name}", tail=200)

    try:
        kube.wait_job(k, ns, name, timeout, f"job {name} ({' '.join(command)})", logs=logs)
    except Exception as exc:
        raise KubedefisError(f"{kind} failed: {exc}") from exc
    return JobRun(name, logs(), time.monotonic() - start)


def backup(db: Database, label: str | None = None, *, timeout: float = JOB_TIMEOUT) -> JobRun:
    """A backup now: the CronJob's own pod and command (`kubectl create job --from=cronjob/...`), or
    with a label, a logical backup named after it (also where only the pre-upgrade hook exists)."""
    if label is None:
        try:
            return run_backup_job(db, "backup", None, timeout=timeout)
        except KubedefisError as exc:
            if "no backup CronJob to run" not in str(exc):
                raise
            label = "manual"
    return run_backup_job(db, "backup", ["pg-backup", "logical", label], timeout=timeout)


def list_backups(db: Database, *, timeout: float = JOB_TIMEOUT) -> JobRun:
    return run_backup_job(db, "backups", ["pg-backup", "list"], timeout=timeout)


def restore(
    db: Database, name: str = "latest", *, timeout: float = JOB_TIMEOUT, status_: Status | None = None
) -> JobRun:
    """Restore a logical backup into the primary, then drop what the site cached from before."""
    out = status_ or Status()
    with out.step(f"restoring backup {name}"):
        done = run_backup_job(db, "restore", ["pg-restore", name], timeout=timeout)
    with out.step("dropping the site's cached responses"):
        out.info(forget_cache(db))
    return done


def forget_cache(db: Database) -> str:
    """Cached pages were keyed by data versions the restore rewound: Redis is flushed; without
    Redis the api/public pods (in-memory caches) are restarted."""
    k, ns = db.kube, db.namespace
    base = f"app.kubernetes.io/instance={db.release}"
    caches = k.apps.list_namespaced_deployment(ns, label_selector=f"{base},app.kubernetes.io/component=cache").items
    if caches:
        pods = [
            p
            for p in k.core.list_namespaced_pod(ns, label_selector=f"{base},app.kubernetes.io/component=cache").items
            if kube.pod_ready(p)
        ]
        if not pods:
            return "Redis has no ready pod: nothing cached to flush"
        run([*db.kubectl, "-n", ns, "exec", pods[0].metadata.name, "--", "sh", "-c",
             'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli FLUSHALL'])  # fmt: skip
        return f"flushed Redis ({pods[0].metadata.name})"
    restarted = []
    for component in ("api", "public"):
        for dep in k.apps.list_namespaced_deployment(
            ns, label_selector=f"{base},app.kubernetes.io/component={component}"
        ).items:
            run([*db.kubectl, "-n", ns, "rollout", "restart", f"deployment/{dep.metadata.name}"])
            restarted.append(dep.metadata.name)
    return f"restarted {', '.join(restarted) or 'nothing'} (in-memory caches)"


def database_for(client: kube.Kube, kubectl: Sequence[str], namespace: str, release: str) -> Database:
    """The stack's database as seen through an API client and a kubectl command (the suite's cluster)."""
    return Database(client, tuple(kubectl), namespace, release)
