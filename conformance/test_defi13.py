"""Défi 13 — Connexions robustes & automatisées: the primary/replicas cluster deployed by the chart.

The same requirements as défi 12, met by a chart of its own (charts/postgresql-replication)
included in the main chart as a dependency; plus what the chart adds: the site writes to the
primary's Service and reads from the replicas' one, and a failover (`kubedefis db promote`)
while a writer runs loses no acknowledged row, with its write gap measured.
"""

from __future__ import annotations

import time

import pytest
import yaml

from kubedefis.core import kube, manifests, timeouts
from kubedefis.core.errors import KubedefisError
from kubedefis.core.shell import Status
from kubedefis.core.waits import Check, wait_for
from kubedefis.harness import access, checks, discover
from kubedefis.harness import stage as stack
from kubedefis.stack import database as pg
from kubedefis.stack import dbops as db

PRESET = "defi13"
SIZE = "small"  # checks neither replica counts nor requests
LANE = "load"  # a writer runs through its failover: with the other small stages under load (harness.plugin.lane_of)
PRIMARY, REPLICA = "database", "database-replica"
WRITER_COMPONENT = "db-writer"
# The failover test runs a writer pod: let it through the database's NetworkPolicy.
OVERRIDES = {
    "replication": {
        "networkPolicy": {"clientComponents": ["api", "public", "migrate", "backup", "hook", WRITER_COMPONENT]}
    }
}


@pytest.fixture(scope="module")
def replicated(suite, cluster, namespace, values):
    primary = stack.wait_component(cluster, namespace, suite.target.component(PRIMARY), timeouts.DATABASE_READY)
    replicas = stack.wait_component(cluster, namespace, suite.target.component(REPLICA), timeouts.REPLICA_REBUILD)
    return pg.Replicated(cluster, namespace, primary.selector, replicas.selector, port=suite.target.database_port)


def site_selector(cluster, namespace, suite) -> str:
    """The api component's pod selector (its pods tell which database the site uses)."""
    return stack.resolve(cluster, namespace, suite.target.component("api")).selector


def site_db(cluster, namespace, suite) -> tuple[str, str]:
    """(database, user) of the site, from its pods' environment (read once the failover is known to apply:
    a group's site may hold its user in a Secret, and D13.11 skips on a group's replication anyway)."""
    return discover.site_database(cluster.kube, namespace, suite.target, site_selector(cluster, namespace, suite))


def _statefulsets(objects, suite) -> dict[str, dict]:
    """The primary's and the replicas' StatefulSet, found through the target's components (a failure names them)."""
    findings = []
    found = {}
    for key in (PRIMARY, REPLICA):
        findings += discover.component_findings(objects, suite.target, key, ("StatefulSet",))
        sets = discover.workloads(objects, suite.target, key, ("StatefulSet",))
        if sets:
            found[key] = sets[0]
    checks.require("the primary and replica StatefulSets", findings)
    return found


def _site_containers(objects, suite) -> list[tuple[str, dict]]:
    return [
        (manifests.name_of(obj), container)
        for key in ("api", "public")
        for obj in discover.workloads(objects, suite.target, key, ("Deployment",))
        for container in manifests.containers(obj)
    ]


def handler(probe: dict) -> dict:
    """What a probe runs (exec, httpGet, tcpSocket or grpc), its timings aside."""
    return {k: v for k, v in probe.items() if k in ("exec", "httpGet", "tcpSocket", "grpc")}


# --- static tier: the chart rendered with the défi's values ---------------------------------------


@pytest.mark.static
@pytest.mark.requirement("D13.1", "the primary/replicas chart is a chart of its own, included in the main chart")
def test_replication_is_a_subchart(suite):
    """The course: « une charte Helm [...] Master/Slave [...] Incluez cette charte à votre charte globale ».

    Judged by what Helm renders: the primary's and the replicas' StatefulSets must come from a subchart's
    templates (Helm's `# Source: <chart>/charts/<subchart>/templates/...`), whatever the subchart's name,
    whether Chart.yaml switches it by a condition or not (our chart's switch is D13.6's). The same
    templates copied into the main chart's templates/ are no chart of their own.
    """
    rendered = stack.render_sources(suite, PRESET, OVERRIDES)  # what `rendered` renders, with sources
    sets = _statefulsets([obj for _, obj in rendered], suite)
    folder = suite.chart_under_test()
    chart = (yaml.safe_load((folder / "Chart.yaml").read_text()) or {}).get("name") or folder.name  # Helm's paths
    findings = []
    for key in (PRIMARY, REPLICA):
        source = next(src for src, obj in rendered if obj is sets[key])
        parts = source.split("/")
        # <chart>/charts/<subchart>/templates/<file>: a subchart's (nested deeper: still a subchart's)
        if not (len(parts) >= 4 and parts[1] == "charts" and "templates" in parts[3:]):
            where = f"StatefulSet {manifests.name_of(sets[key])} ({key})"
            findings.append(
                checks.Finding(where, f"rendered by a subchart ({chart}/charts/<chart>/templates/...)", source)
            )
    checks.require("D13.1 replication subchart", findings)


@pytest.mark.static
@pytest.mark.requirement(
    "D13.2", "a primary StatefulSet of 1 pod and a replica StatefulSet of 1 or more, each pod on a claim"
)
def test_rendered_statefulsets(suite, rendered):
    sets = _statefulsets(rendered, suite)
    primary, replica = sets[PRIMARY], sets[REPLICA]
    # Master/Slave: one primary, and replicas (the course says no number; ours runs 2, as D12.1 asks >= 1)
    findings = checks.replicas(primary, 1)
    count = replica.get("spec", {}).get("replicas", 1)
    if not isinstance(count, int) or count < 1:
        findings.append(checks.Finding(manifests.name_of(replica), "1 replica or more", str(count)))
    for sts in (primary, replica):
        if not sts["spec"].get("volumeClaimTemplates"):
            findings.append(checks.Finding(manifests.name_of(sts), "volumeClaimTemplates", "none"))
    checks.require("D13.2 StatefulSets", findings)


@pytest.mark.static
@pytest.mark.requirement("D13.3", "write Service on the primary only, read Service on the replicas, headless Services")
def test_rendered_services(suite, rendered):
    sets = _statefulsets(rendered, suite)
    split = discover.write_read_services(rendered, sets[PRIMARY], sets[REPLICA])
    findings = split.findings(manifests.name_of(sets[PRIMARY]), manifests.name_of(sets[REPLICA]))
    for sts in sets.values():
        findings += discover.governing_findings(rendered, sts)
    checks.require("D13.3 Services", findings)


@pytest.mark.static
@pytest.mark.requirement(
    "D13.4", "replica readiness = replicating; liveness never fails on a replica that does not stream"
)
def test_rendered_probes(suite, rendered):
    replica = _statefulsets(rendered, suite)[REPLICA]
    findings = []
    for container in pg.postgres_containers(replica, suite.target.database_port):
        ready, live = container.get("readinessProbe"), container.get("livenessProbe")
        where = f"{manifests.name_of(replica)} container {container.get('name')}"
        if not ready or not live:
            findings.append(
                checks.Finding(where, "a readiness and a liveness probe", f"readiness={ready} liveness={live}")
            )
        elif handler(ready) == handler(live):
            findings.append(
                checks.Finding(where, "readiness (streaming, lag) checking more than liveness", "the same check")
            )
    checks.require("D13.4 probes", findings)


@pytest.mark.static
@pytest.mark.requirement("D13.5", "the site writes through the primary's Service and reads from the replicas' one")
def test_rendered_site_settings(suite, rendered):
    # Which Services route where exactly is D13.3's; here, that the site is told a Service reaching the
    # primary for its writes and one reaching the replicas for its reads.
    sets = _statefulsets(rendered, suite)
    primary_pods, replica_pods = discover.statefulset_pods(sets[PRIMARY]), discover.statefulset_pods(sets[REPLICA])
    services = [o for o in rendered if o.get("kind") == "Service"]
    to_primary = [s["metadata"]["name"] for s in services if discover.selects_any(s, primary_pods)]
    to_replicas = [s["metadata"]["name"] for s in services if discover.selects_any(s, replica_pods)]
    # The primary's own DNS name through its headless Service (`<sts>-0.<service>`, as défi 7's D7.3 asks
    # for a StatefulSet's pod) reaches the primary too: writes may go there. Reads are the replicas'
    # Service's: one replica's name is not "the replicas".
    primary_name = sets[PRIMARY]["metadata"]["name"]
    headless = discover.services_selecting(rendered, primary_pods, headless=True)
    to_primary += [f"{primary_name}-0.{svc['metadata']['name']}" for svc in headless]
    host_setting = suite.target.database_env.get("host", "")
    findings = []
    containers = _site_containers(rendered, suite)
    if not containers:
        findings.append(checks.Finding("the site", "api and public Deployments (the target's components)", "none"))
    for where, container in containers:
        env = discover.env_of(rendered, container)
        for role, names in (("writes", to_primary), ("reads", to_replicas)):
            if not any(discover.mentions_host(v.value, n) for v in env.values() for n in names):
                # what the container is told of databases: the target's host variable, any *HOST* or *postgres* one
                found = {
                    k: v.value
                    for k, v in env.items()
                    if v.value and (k == host_setting or "HOST" in k.upper() or "postgres" in k.lower())
                } or "no such setting"
                findings.append(
                    checks.Finding(
                        f"{where} container {container.get('name')}", f"{role} through one of {names}", str(found)
                    )
                )
    checks.require("D13.5 site settings", findings)


@pytest.mark.static
@pytest.mark.requirement("D13.6", "with replication off (défi 11) the chart renders its single database only")
def test_replication_off_leaves_single_database(suite):
    objects = stack.render(suite, "defi11", preset_only=True)
    replicas = [manifests.name_of(o) for o in discover.workloads(objects, suite.target, REPLICA)]
    assert not replicas, f"expected no replica workload with replication off, found {replicas}"
    singles = discover.workloads(objects, suite.target, PRIMARY)
    if singles:
        findings = discover.component_findings(objects, suite.target, PRIMARY)
    else:
        # The primary's selector names what replication adds (a role label, say): with it off, the
        # single database is the one workload that runs PostgreSQL, whatever its labels.
        singles = [o for o in objects if o.get("kind") in discover.WORKLOAD_KINDS and pg.runs_postgres(o)]
        names = [manifests.name_of(o) for o in singles] or "none"
        findings = [] if len(singles) == 1 else [
            checks.Finding("the database", "one workload running PostgreSQL with replication off", str(names))
        ]  # fmt: skip
    for workload in singles:
        findings += checks.replicas(workload, 1)
    checks.require("D13.6 single database", findings)


# --- live tier --------------------------------------------------------------------------------------


@pytest.mark.requirement("D13.2", "the primary and every replica run Ready, each pod on a claim of its own")
def test_primary_and_replicas_ready(suite, cluster, namespace, replicated):
    # As many replica pods as the group's replica workload declares (the course names no number; ours
    # runs 2), and at least one: a "Master/Slave" structure with no slave is none.
    workload = stack.resolve(cluster, namespace, suite.target.component(REPLICA))
    declared = stack.declared_replicas(cluster, namespace, workload)
    primary, replicas = replicated.pods(replicated.primary_selector), replicated.replica_pods()
    primaries = [p.metadata.name for p in primary]
    assert len(primaries) == 1, f"expected 1 primary pod, found {primaries}"
    pods = primary + replicas
    names = [p.metadata.name for p in replicas]
    assert declared >= 1, f"expected {workload.kind}/{workload.name} to declare 1 replica or more, found {declared}"
    assert len(names) == declared, (
        f"expected the {declared} replicas {workload.kind}/{workload.name} declares running, found {names}"
    )
    not_ready = [p.metadata.name for p in pods if not kube.pod_ready(p)]
    assert not not_ready, f"expected every database pod Ready, found not Ready: {not_ready}"
    claims = [c for p in pods for c in pg.pod_claims(p)]
    assert len(claims) == len(pods) == len(set(claims)), f"claims per pod: {claims}"


@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement("D13.7", "pg_stat_replication on the primary shows every replica streaming")
def test_every_replica_streams(replicated, record):
    standbys = replicated.assert_streaming(timeouts.POD_READY)
    record("standbys", [f"{s.name}@{s.address}:{s.state}/{s.sync_state}" for s in standbys])


@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement("D13.8", "a row committed on the primary is readable on every replica within 2 s")
def test_row_reaches_every_replica_within_2s(replicated, record):
    lags = replicated.assert_rows_reach_replicas(timeouts.REPLICATION_VISIBLE)
    record("replication_visibility_ms", {pod: round(s * 1000, 1) for pod, s in lags.items()})


@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement("D13.9", "a write on a replica is refused")
def test_replicas_refuse_writes(replicated):
    replicated.assert_replicas_refuse_writes()


# Requests per site pod, through the Ingress: 5 for each pod of a component (api, public), so that
# Traefik's round-robin sends each pod 5; were it random, a pod would be missed with probability
# (1 - 1/n)^(5n) < e^-5 < 1 %. Each read opens (or reuses) that pod's connection to a replica.
READS_PER_POD = 5
# What each component is asked: the site contract's API list and public page (the target's, else ours).
SITE_READS = {"api": "api_list", "public": "public_page"}


def connected_from(node: pg.Node, addresses: dict[str, str]) -> set[str]:
    """The site pods (by IP) with a connection to this PostgreSQL node."""
    rows = node.sql("SELECT DISTINCT host(client_addr) FROM pg_stat_activity WHERE client_addr IS NOT NULL")
    return {addresses[r[0]] for r in rows if r[0] in addresses}


@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement("D13.5", "the site writes through the primary's Service and reads from the replicas' one")
def test_site_reads_from_replicas(suite, cluster, namespace, replicated, site, record):
    contract = suite.target.site
    if not contract.knows("api_write"):
        pytest.skip(contract.unknown("api_write") + ": a write through the site shows which pods use the primary")
    access.wait_http("the API through the Ingress", lambda: site.get(contract.api_list), timeout=timeouts.HTTP_READY)
    pods = {}
    for component, key in SITE_READS.items():
        path = getattr(contract, key)
        found = stack.resolve(cluster, namespace, suite.target.component(component))
        running = stack.running_pods(cluster, namespace, found.selector)
        pods.update({p.status.pod_ip: p.metadata.name for p in running})
        for _ in range(READS_PER_POD * max(len(running), 1)):
            response = site.get(path)
            assert response.status == 200, f"{component}: expected 200 for {path} ({key}), found {response}"
    body, _ = contract.write_body()
    created = site.request(
        contract.write_method, contract.write_path, headers={"Content-Type": "application/json"}, body=body
    )
    assert 200 <= created.status < 300, f"expected a write through the site ({contract.api_write}), found {created}"
    on_replicas = set()
    per_replica = {}
    for replica in replicated.replicas():
        per_replica[replica.pod] = sorted(connected_from(replica, pods))
        on_replicas |= set(per_replica[replica.pod])
    on_primary = connected_from(replicated.primary(), pods)
    record("site_connections", {"replicas": per_replica, "primary": sorted(on_primary)})
    missing = sorted(set(pods.values()) - on_replicas)
    assert not missing, f"expected every site pod connected to a replica, found none from {missing}: {per_replica}"
    api = {p.metadata.name for p in stack.running_pods(cluster, namespace, stack.resolve(
        cluster, namespace, suite.target.component("api")).selector)}  # fmt: skip
    assert api & on_primary, f"expected the api pods that write connected to the primary, found {sorted(on_primary)}"


@pytest.mark.disruptive
@pytest.mark.needs("patch", "statefulsets/scale")
@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement(
    "D13.4", "the primary stopped: every replica turns unready, none is restarted; back, all ready"
)
def test_replicas_unready_but_alive_without_primary(suite, cluster, namespace, replicated, record):
    k = cluster.kube
    primary = stack.resolve(cluster, namespace, suite.target.component(PRIMARY))
    if primary.kind != "StatefulSet":
        pytest.fail(f"expected the primary as a StatefulSet, found {primary.kind}/{primary.name}")
    size = k.apps.read_namespaced_stateful_set(primary.name, namespace).spec.replicas or 1

    def restarts() -> dict[str, int]:
        return {
            p.metadata.name: sum(c.restart_count for c in p.status.container_statuses or [])
            for p in replicated.replica_pods()
        }

    before = restarts()
    probes = [c.liveness_probe for p in replicated.replica_pods() for c in p.spec.containers if c.liveness_probe]
    # Long enough for any liveness probe tied to streaming to have failed and restarted its container.
    window = max(((p.period_seconds or 10) * (p.failure_threshold or 3) for p in probes), default=30) + 15
    k.apps.patch_namespaced_stateful_set_scale(primary.name, namespace, {"spec": {"replicas": 0}})
    try:
        wait_for(
            "the primary's pods to be gone",
            lambda: Check(not k.core.list_namespaced_pod(namespace, label_selector=primary.selector).items, None),
            timeout=timeouts.POD_READY,
        )
        gone = time.monotonic()

        def unready() -> Check[None]:
            ready = [p.metadata.name for p in replicated.replica_pods() if kube.pod_ready(p)]
            return Check(not ready, None, f"still Ready without a primary: {ready}")

        wait_for("every replica to turn unready", unready, timeout=timeouts.POD_READY, interval=2.0)
        record("replicas_unready_seconds", round(time.monotonic() - gone, 1))

        def alive() -> Check[None]:
            now = restarts()
            restarted = {p: n - before.get(p, 0) for p, n in now.items() if n != before.get(p, 0)}
            if restarted:
                raise AssertionError(f"expected no replica restarted while not streaming, found {restarted}")
            return Check(time.monotonic() - gone >= window, None, f"{time.monotonic() - gone:.0f}s of {window}s")

        wait_for("the liveness window to pass without a restart", alive, timeout=window + 60, interval=3.0)
    finally:
        k.apps.patch_namespaced_stateful_set_scale(primary.name, namespace, {"spec": {"replicas": size}})
    stack.wait_component(cluster, namespace, suite.target.component(PRIMARY), timeouts.DATABASE_READY)
    replicated.assert_streaming(timeouts.POD_READY)

    def all_ready() -> Check[None]:
        pods = replicated.replica_pods()
        waiting = [p.metadata.name for p in pods if not kube.pod_ready(p)]
        return Check(bool(pods) and not waiting, None, f"not Ready yet: {waiting}")

    wait_for("every replica Ready again", all_ready, timeout=timeouts.POD_READY, interval=2.0)
    assert restarts() == before, f"expected no restart, found {before} -> {restarts()}"


@pytest.mark.disruptive
@pytest.mark.needs("delete", "persistentvolumeclaims")
@pytest.mark.needs("delete", "pods")
@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement("D13.10", "a replica whose pod and claim are deleted is rebuilt from the primary and streams")
def test_replica_rebuilt_after_losing_its_volume(suite, replicated, record):
    replicas = replicated.replica_pods()
    assert replicas, "expected a replica pod to delete with its claim, found none"
    victim = replicas[0].metadata.name
    seconds = replicated.assert_replica_rebuilds(victim, timeouts.REPLICA_REBUILD)
    record("replica_rebuild_seconds", round(seconds, 1))


@pytest.mark.disruptive
@pytest.mark.needs("create", "pods")  # the writer pod, and its log
@pytest.mark.needs("get", "pods/log")
@pytest.mark.needs("delete", "pods")  # the writer; `db promote` fences the old primary
@pytest.mark.needs("patch", "statefulsets/scale")  # the primary lost
@pytest.mark.needs("patch", "configmaps")  # `db promote`: the topology,
@pytest.mark.needs("patch", "services")  # the write Service,
@pytest.mark.needs("patch", "pods")  # the role labels,
@pytest.mark.needs("create", "pods/exec")  # pg_promote, slots, receivers (psql)
@pytest.mark.requirement("D13.11", "failover with a writer running: no acknowledged row lost, write gap within 15 s")
def test_failover_loses_no_acknowledged_row(suite, cluster, namespace, replicated, site, record):
    k = cluster.kube
    try:
        target = db.database_for(cluster.kube, cluster.kubectl_command(), namespace, suite.target.release)
        topology = db.Topology.read(target)
    except KubedefisError as exc:
        pytest.skip(f"the failover is `kubedefis db promote`, which drives our replication chart only: {exc}")
    contract = suite.target.site
    if not contract.knows("api_write"):
        pytest.skip(contract.unknown("api_write") + ": the site must take a write after the failover")
    sitedb = site_db(cluster, namespace, suite)
    old = topology.primary
    old_pod = k.core.read_namespaced_pod(old, namespace)
    statefulset = old_pod.metadata.owner_references[0].name
    prefix = stack.fullname(suite)
    writer = f"{prefix}-failover-writer"
    manifest = pg.writer_pod_manifest(
        writer,
        namespace,
        suite.target.release,
        old_pod.spec.containers[0].image,
        host=topology.write_service,
        secret=f"{prefix}-secret",
        configmap=f"{prefix}-config",
        component=WRITER_COMPONENT,
    )
    try:
        pg.start_writer(k, namespace, manifest, timeout=timeouts.POD_READY)
        # The primary is lost: its StatefulSet scaled to 0 keeps it away, as a dead node would.
        lost_at = time.time()
        k.apps.patch_namespaced_stateful_set_scale(statefulset, namespace, {"spec": {"replicas": 0}})
        wait_for(
            f"the primary {old} to be gone",
            lambda: Check(not [p for p in k.core.list_namespaced_pod(namespace).items if p.metadata.name == old], None),
            timeout=timeouts.POD_READY,
        )
        gone_at = time.time()
        promotion = db.promote(target, status_=Status())
        promoted_at = time.time()

        def rows_after() -> Check[int]:
            log = pg.WriterLog.parse(k.core.read_namespaced_pod_log(writer, namespace))
            after = [i for i, at in log.acked if at > promoted_at]
            return Check(len(after) >= 20, len(after), f"{len(after)} rows acknowledged since the promotion")

        wait_for("writes to go through the new primary", rows_after, timeout=timeouts.FAILOVER)
        text = k.core.read_namespaced_pod_log(writer, namespace)
    finally:
        k.core.delete_namespaced_pod(writer, namespace, grace_period_seconds=0)
    log = pg.WriterLog.parse(text)
    new = pg.node(cluster, namespace, promotion.new_primary, port=suite.target.database_port)
    stored = {int(r[0]) for r in new.sql(f"SELECT id FROM {pg.WRITER_TABLE}", database=sitedb[0])}
    missing = sorted({i for i, _ in log.acked} - stored)
    gap, before, after = log.largest_gap()
    acked = dict(log.acked)
    if before in acked:
        start = acked[before]
        record(
            "failover_timeline_seconds",
            {
                "primary_stopped": round(lost_at - start, 2),
                "primary_pod_gone": round(gone_at - start, 2),
                "promote_done": round(promoted_at - start, 2),
                "first_row_on_new_primary": round(acked[after] - start, 2),
            },
        )
    record("failover_write_errors", sorted({message[:160] for _, message in log.errors}))
    record("failover_write_gap_seconds", round(gap, 2))
    record("failover_rows_acknowledged", len(log.acked))
    record("failover_promote_seconds", round(promotion.seconds, 2))
    record("failover_promote_steps", {title: round(seconds, 2) for title, seconds in promotion.steps})
    assert not missing, f"{len(missing)} acknowledged rows missing after the failover: {missing[:20]}"
    assert gap <= timeouts.FAILOVER_WRITE_GAP, (
        f"write gap {gap:.2f}s (rows {before} → {after}) > {timeouts.FAILOVER_WRITE_GAP}s"
    )

    # The old primary comes back and rejoins as a replica of the new one.
    k.apps.patch_namespaced_stateful_set_scale(statefulset, namespace, {"spec": {"replicas": 1}})
    others = [m for m in topology.members if m != promotion.new_primary]

    def member_pods():
        return [
            p
            for p in k.core.list_namespaced_pod(namespace).items
            if p.metadata.name in others and p.status.phase == "Running"
        ]

    pg.wait_streaming(new, member_pods, timeout=timeouts.REJOIN, evidence=replicated.evidence)

    def write():
        body, _ = contract.write_body()
        return site.request(
            contract.write_method, contract.write_path, headers={"Content-Type": "application/json"}, body=body
        )

    response = access.wait_http(
        f"a write through the site after the failover ({contract.api_write})",
        write,
        expect=lambda r: 200 <= r.status < 300,
        timeout=timeouts.HTTP_READY,
    )
    assert 200 <= response.status < 300, response
