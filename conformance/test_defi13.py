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

from kubedefis import db
from kubedefis.harness import access, checks, release, stack, timeouts
from kubedefis.harness import postgres as pg
from kubedefis.harness.measures import record_fixture  # noqa: F401  (the `record` fixture)
from kubedefis.shell import Status
from kubedefis.waits import Check, wait_for

PRESET = "defi13"
PRIMARY, REPLICA = "database", "database-replica"
WRITER_COMPONENT = "db-writer"
# The failover test runs a writer pod: let it through the database's NetworkPolicy.
OVERRIDES = {
    "replication": {
        "networkPolicy": {"clientComponents": ["api", "public", "migrate", "backup", "hook", WRITER_COMPONENT]}
    }
}


@pytest.fixture(scope="module")
def rendered(suite):
    return release.render(suite, PRESET)


@pytest.fixture(scope="module")
def values(suite, cluster, namespace):
    return release.install(cluster, suite, namespace, PRESET, OVERRIDES)


@pytest.fixture(scope="module")
def replicated(suite, cluster, namespace, values):
    primary = stack.wait_component(cluster, namespace, suite.target.component(PRIMARY), timeouts.DATABASE_READY)
    replicas = stack.wait_component(cluster, namespace, suite.target.component(REPLICA), timeouts.REPLICA_REBUILD)
    return pg.Replicated(cluster, namespace, primary.selector, replicas.selector)


@pytest.fixture(scope="module")
def site(cluster, values):
    return cluster.ingress(values["ingress"]["host"])


@pytest.fixture(scope="module")
def sitedb(suite, cluster, namespace, values):
    """(database, user) of the site, from its live ConfigMap."""
    return release.site_database(cluster, namespace, suite)


def _container(obj):
    return checks.containers(obj)[0]


# --- static tier: the chart rendered with the défi's values ---------------------------------------


@pytest.mark.static
@pytest.mark.requirement("D13.1", "the replication chart is a dependency of the main chart, switched by a value")
def test_replication_is_a_subchart(suite):
    folder = suite.chart_under_test()
    chart = yaml.safe_load((folder / "Chart.yaml").read_text())
    deps = [d for d in chart.get("dependencies") or [] if d.get("condition")]
    assert deps, f"{folder}/Chart.yaml lists no dependency with a condition: {chart.get('dependencies')}"
    for dep in deps:
        assert (folder / "charts" / dep["name"] / "Chart.yaml").exists() or list(
            (folder / "charts").glob(f"{dep['name']}-*.tgz")
        ), f"dependency {dep['name']} is not in {folder}/charts"


@pytest.mark.static
@pytest.mark.requirement("D13.2", "a primary StatefulSet of 1 pod and a replica StatefulSet of 2, each pod on a claim")
def test_rendered_statefulsets(rendered):
    primary = release.find(rendered, "StatefulSet", "-postgresql-primary")
    replica = release.find(rendered, "StatefulSet", "-postgresql-replica")
    findings = checks.replicas(primary, 1) + checks.replicas(replica, 2)
    for sts in (primary, replica):
        if not sts["spec"].get("volumeClaimTemplates"):
            findings.append(checks.Finding(checks.name_of(sts), "volumeClaimTemplates", "none"))
    checks.require("D13.2 StatefulSets", findings)


@pytest.mark.static
@pytest.mark.requirement("D13.3", "write Service on the primary only, read Service on the replicas, headless Services")
def test_rendered_services(rendered):
    primary = release.find(rendered, "StatefulSet", "-postgresql-primary")
    replica = release.find(rendered, "StatefulSet", "-postgresql-replica")
    rw = release.find(rendered, "Service", "-postgresql-rw")
    ro = release.find(rendered, "Service", "-postgresql-ro")
    labels = {n: s["spec"]["template"]["metadata"]["labels"] for n, s in (("primary", primary), ("replica", replica))}
    findings = []
    pod0 = {**labels["primary"], "statefulset.kubernetes.io/pod-name": f"{primary['metadata']['name']}-0"}
    if not checks.selects(rw["spec"]["selector"], pod0) or checks.selects(rw["spec"]["selector"], labels["replica"]):
        findings.append(
            checks.Finding(checks.name_of(rw), "selects the primary's pod only", str(rw["spec"]["selector"]))
        )
    if not checks.selects(ro["spec"]["selector"], labels["replica"]) or checks.selects(ro["spec"]["selector"], pod0):
        findings.append(checks.Finding(checks.name_of(ro), "selects the replicas only", str(ro["spec"]["selector"])))
    for sts in (primary, replica):
        governing = [
            s for s in rendered if s["kind"] == "Service" and s["metadata"]["name"] == sts["spec"]["serviceName"]
        ]
        if not governing or governing[0]["spec"].get("clusterIP") != "None":
            findings.append(checks.Finding(checks.name_of(sts), "a headless governing Service", "none"))
    checks.require("D13.3 Services", findings)


@pytest.mark.static
@pytest.mark.requirement("D13.4", "replica readiness = streaming with bounded lag; liveness never fails on slow replay")
def test_rendered_probes(rendered):
    replica = _container(release.find(rendered, "StatefulSet", "-postgresql-replica"))
    findings = []
    for probe, wanted in (("readinessProbe", ["pg-probe", "ready"]), ("livenessProbe", ["pg-probe", "live"])):
        command = (replica.get(probe) or {}).get("exec", {}).get("command")
        if command != wanted:
            findings.append(checks.Finding(f"replica {probe}", str(wanted), str(command)))
    env = release.env_of(replica)
    if not str(env.get("PG_PROBE_MAX_LAG_BYTES", "")).isdigit():
        findings.append(checks.Finding("replica env", "PG_PROBE_MAX_LAG_BYTES (the lag bound)", "unset"))
    checks.require("D13.4 probes", findings)


@pytest.mark.static
@pytest.mark.requirement("D13.5", "the site writes through the primary's Service and reads from the replicas' one")
def test_rendered_site_settings(rendered):
    config = release.find(rendered, "ConfigMap", "-config")["data"]
    rw = release.find(rendered, "Service", "-postgresql-rw")["metadata"]["name"]
    ro = release.find(rendered, "Service", "-postgresql-ro")["metadata"]["name"]
    findings = []
    if config.get("POSTGRES_HOST") != rw:
        findings.append(checks.Finding("ConfigMap POSTGRES_HOST", rw, str(config.get("POSTGRES_HOST"))))
    if config.get("POSTGRES_REPLICA_HOST") != ro:
        findings.append(checks.Finding("ConfigMap POSTGRES_REPLICA_HOST", ro, str(config.get("POSTGRES_REPLICA_HOST"))))
    checks.require("D13.5 site settings", findings)


@pytest.mark.static
@pytest.mark.requirement("D13.6", "with replication off (défi 11) the chart renders its single database only")
def test_replication_off_leaves_single_database(suite):
    objects = release.render(suite, "defi11", preset_only=True)
    names = [
        checks.name_of(o)
        for o in objects
        if o["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "postgresql"
    ]
    assert not names, f"replication objects rendered with replication off: {names}"
    sts = release.find(objects, "StatefulSet", "-postgresql")
    checks.require("D13.6 single database", checks.replicas(sts, 1))


# --- live tier --------------------------------------------------------------------------------------


@pytest.mark.requirement("D13.2", "the primary and the replicas run Ready, each pod on a claim of its own")
def test_primary_and_replicas_ready(replicated):
    pods = replicated.pods(replicated.primary_selector) + replicated.replica_pods()
    assert len(replicated.replica_pods()) == 2, [p.metadata.name for p in replicated.replica_pods()]
    assert all(stack.ready(p) for p in pods), [(p.metadata.name, stack.ready(p)) for p in pods]
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


@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement("D13.5", "the site answers, and its reads reach the replicas")
def test_site_reads_from_replicas(cluster, namespace, replicated, site, sitedb):
    access.wait_http("the API through the Ingress", lambda: site.get("/api/cars"), timeout=timeouts.HTTP_READY)
    for page in range(1, 6):
        response = site.get(f"/api/cars?page_size=5&page={page}")
        assert response.status in (200, 404, 422), response
    site_pods = {
        p.status.pod_ip: p.metadata.name
        for component in ("api", "public")
        for p in stack.running_pods(cluster, namespace, f"app.kubernetes.io/component={component}")
    }
    user = sitedb[1]
    clients = {}
    for replica in replicated.replicas():
        rows = replica.sql(f"SELECT DISTINCT host(client_addr) FROM pg_stat_activity WHERE usename = '{user}'")
        clients[replica.pod] = sorted(site_pods.get(r[0], r[0]) for r in rows)
    assert any(clients.values()), f"no site pod has a connection to any replica: {clients}"


@pytest.mark.disruptive
@pytest.mark.needs("delete", "persistentvolumeclaims")
@pytest.mark.needs("delete", "pods")
@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement("D13.10", "a replica whose pod and claim are deleted is rebuilt from the primary and streams")
def test_replica_rebuilt_after_losing_its_volume(suite, replicated, record):
    if not suite.allow_disruption:
        pytest.skip("deletes a replica and its volume: run with --allow-disruption")
    victim = replicated.replica_pods()[0].metadata.name
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
@pytest.mark.requirement("D13.11", "failover with a writer running: no acknowledged row lost, write gap within 10 s")
def test_failover_loses_no_acknowledged_row(suite, cluster, namespace, replicated, site, sitedb, record):
    if not suite.allow_disruption:
        pytest.skip("stops the primary: run with --allow-disruption")
    k = cluster.kube
    target = db.target_for(cluster, namespace, suite.target.release)
    topology = db.Topology.read(target)
    old = topology.primary
    old_pod = k.core.read_namespaced_pod(old, namespace)
    statefulset = old_pod.metadata.owner_references[0].name
    prefix = release.fullname(suite)
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
    k.core.create_namespaced_pod(namespace, manifest)
    try:
        pg.wait_writer_running(k, namespace, writer, timeout=timeouts.POD_READY)
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
    new = pg.node(cluster, namespace, promotion.new_primary)
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
    response = access.wait_http(
        "a write through the site after the failover",
        lambda: site.request("POST", "/api/garages", headers={"Content-Type": "application/json"},
                             body=f'{{"name": "after-failover-{int(time.time())}", "city": "Evry"}}'),
        expect=lambda r: r.status == 201,
        timeout=timeouts.HTTP_READY,
    )  # fmt: skip
    assert response.status == 201, response
