"""Défi 15 — Ça mord !: Helm hooks around install and upgrade.

A pre-install/pre-upgrade Job prepares the configuration (and the backup volume), a
post-install/post-upgrade Job checks the live configuration; before an upgrade a Job backs
the database up, and its failure stops the upgrade; after an upgrade a Job verifies it
(migrations applied, no table lost rows). Hook names, weights and delete policies let the
same hooks run again at every upgrade.
"""

from __future__ import annotations

import pytest

from kubedefis import db
from kubedefis.errors import KubedefisError
from kubedefis.harness import checks, release, stack, timeouts
from kubedefis.harness import postgres as pg
from kubedefis.harness.helm import merge_values
from kubedefis.harness.measures import record_fixture  # noqa: F401  (the `record` fixture)
from kubedefis.waits import Check, wait_for

PRESET = "defi15"
SITE_TABLES = ("garage_garage", "garage_car", "garage_key", "garage_loan", "auth_user")


@pytest.fixture(scope="module")
def rendered(suite):
    return release.render(suite, PRESET)


@pytest.fixture(scope="module")
def values(suite, cluster, namespace):
    return release.install(cluster, suite, namespace, PRESET)


@pytest.fixture(scope="module")
def prefix(suite):
    return release.fullname(suite)


@pytest.fixture(scope="module")
def sitedb(suite, cluster, namespace, values):
    """(database, user) of the site, from its live ConfigMap."""
    return release.site_database(cluster, namespace, suite)


def _hooks(rendered):
    return {o["metadata"]["name"]: o for o in rendered if "helm.sh/hook" in (o["metadata"].get("annotations") or {})}


def _hook_job(rendered, suffix):
    found = [o for name, o in _hooks(rendered).items() if o["kind"] == "Job" and name.endswith(suffix)]
    assert found, f"no hook Job *{suffix} in {sorted(_hooks(rendered))}"
    return found[0]


def _annotations(obj):
    return obj["metadata"].get("annotations") or {}


def job(cluster, namespace, name):
    return cluster.kube.batch.read_namespaced_job(name, namespace)


def succeeded(cluster, namespace, name):
    found = job(cluster, namespace, name)
    return bool(found.status.succeeded), found


def release_record(cluster, namespace, prefix):
    return cluster.kube.core.read_namespaced_config_map(f"{prefix}-release", namespace).data or {}


def row_counts(cluster, namespace, suite, name):
    primary = stack.resolve(cluster, namespace, suite.target.component("database"))
    pod = stack.running_pods(cluster, namespace, primary.selector)[0].metadata.name
    counts = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in SITE_TABLES)
    return {r[0]: int(r[1]) for r in pg.node(cluster, namespace, pod).sql(counts, database=name)}


def job_log(cluster, namespace, name):
    """The logs of every container of a Job's pods, init containers included."""
    k = cluster.kube
    out = []
    for pod in k.core.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items:
        for container in [*(pod.spec.init_containers or []), *pod.spec.containers]:
            text = k.core.read_namespaced_pod_log(pod.metadata.name, namespace, container=container.name)
            out.append(f"--- {pod.metadata.name}/{container.name}:\n{text}")
    return "\n".join(out)


# --- static tier ----------------------------------------------------------------------------------


@pytest.mark.static
@pytest.mark.requirement("D15.1", "hooks on the right events: prepare before, check after, backup before upgrades only")
def test_rendered_hook_events(rendered):
    wanted = {
        "-hook-prepare": {"pre-install", "pre-upgrade"},
        "-hook-check": {"post-install", "post-upgrade"},
        "-hook-backup": {"pre-upgrade"},
        "-hook-verify": {"post-upgrade"},
    }
    findings = []
    for suffix, events in wanted.items():
        found = set(_annotations(_hook_job(rendered, suffix))["helm.sh/hook"].split(","))
        if found != events:
            findings.append(checks.Finding(f"Job *{suffix}", f"helm.sh/hook {sorted(events)}", str(sorted(found))))
    checks.require("D15.1 hook events", findings)


@pytest.mark.static
@pytest.mark.requirement("D15.2", "hook weights order the steps; delete policies let every rerun replace the last one")
def test_rendered_hook_weights_and_policies(rendered):
    weight = {name: int(_annotations(o).get("helm.sh/hook-weight", "0")) for name, o in _hooks(rendered).items()}
    findings = []
    order = ["-hooks", "-hook-prepare", "-hook-backup"], ["-hook-check", "-hook-verify"]
    for chain in order:
        values = [next(w for n, w in weight.items() if n.endswith(s)) for s in chain]
        if values != sorted(values) or len(set(values)) != len(values):
            findings.append(checks.Finding("hook weights", f"{chain} in increasing order", str(values)))
    for obj in _hooks(rendered).values():
        policy = _annotations(obj).get("helm.sh/hook-delete-policy", "")
        if _annotations(obj)["helm.sh/hook"] == "test":
            continue
        if "before-hook-creation" not in policy:
            findings.append(checks.Finding(checks.name_of(obj), "delete policy before-hook-creation", policy or "none"))
        if str(obj["metadata"]["name"]).rstrip("0123456789") != obj["metadata"]["name"]:
            findings.append(checks.Finding(checks.name_of(obj), "a fixed name (reruns replace it)", "a numbered one"))
    checks.require("D15.2 weights and policies", findings)


@pytest.mark.static
@pytest.mark.requirement("D15.3", "the pre-upgrade backup dumps the database to the backup volume")
def test_rendered_backup_hook(rendered):
    backup = _hook_job(rendered, "-hook-backup")
    container = checks.containers(backup)[0]
    claims = [
        v["persistentVolumeClaim"]["claimName"]
        for v in checks.pod_spec(backup)["volumes"]
        if "persistentVolumeClaim" in v
    ]
    findings = []
    if container.get("command", [])[:2] != ["pg-backup", "logical"]:
        findings.append(checks.Finding("backup hook", "pg-backup logical", str(container.get("command"))))
    if not claims or not claims[0].endswith("-backups"):
        findings.append(checks.Finding("backup hook", "the backup volume's claim", str(claims)))
    checks.require("D15.3 backup hook", findings)


# --- live tier --------------------------------------------------------------------------------------


@pytest.mark.requirement("D15.4", "after install, the check hook ran and the release record says deployed")
def test_install_checked_by_post_install_hook(cluster, namespace, values, prefix):
    ok, found = succeeded(cluster, namespace, f"{prefix}-hook-check")
    assert ok, f"{prefix}-hook-check: {found.status}"
    info = release_record(cluster, namespace, prefix)
    assert info.get("phase") == "deployed" and info.get("revision") == "1", info
    assert info.get("verifiedConfigSha256") == info.get("configSha256"), info


@pytest.mark.needs("create", "pods/exec")
@pytest.mark.needs("create", "jobs")  # `db backups` lists the backups from a Job
@pytest.mark.needs("list", "cronjobs")
@pytest.mark.needs("get", "pods/log")
@pytest.mark.needs("list", "secrets")
@pytest.mark.requirement("D15.5", "an upgrade leaves a backup made before it and a successful verification after it")
def test_upgrade_backs_up_before_and_verifies_after(suite, cluster, namespace, values, prefix, sitedb, record):
    if suite.target.deployed:
        pytest.skip("grading an existing release: the suite does not upgrade it")
    name = sitedb[0]
    before = row_counts(cluster, namespace, suite, name)
    change = merge_values(values, {"migration": {"ttlSecondsAfterFinished": 3601}})
    release.upgrade(cluster, suite, namespace, change)
    revision = release_record(cluster, namespace, prefix).get("revision")
    assert revision == "2", release_record(cluster, namespace, prefix)
    ok, backup_job = succeeded(cluster, namespace, f"{prefix}-hook-backup")
    assert ok, f"pre-upgrade backup Job: {backup_job.status}"
    migrate = job(cluster, namespace, f"{prefix}-migrate-2")
    done_at, applied_at = backup_job.status.completion_time, migrate.metadata.creation_timestamp
    assert done_at <= applied_at, f"the backup finished at {done_at}, after the upgrade was applied ({applied_at})"
    record("pre_upgrade_backup_seconds", (done_at - backup_job.status.start_time).total_seconds())
    listing = db.list_backups(db.target_for(cluster, namespace, suite.target.release)).log
    assert "pre-upgrade-r2" in listing, listing
    ok, verify = succeeded(cluster, namespace, f"{prefix}-hook-verify")
    log = job_log(cluster, namespace, f"{prefix}-hook-verify")
    assert ok, f"post-upgrade verification Job: {verify.status}\n{log}"
    assert "every migration is applied" in log and "rows ok" in log, log
    assert release_record(cluster, namespace, prefix).get("phase") == "deployed"
    after = row_counts(cluster, namespace, suite, name)
    assert all(after[t] >= n for t, n in before.items()), (before, after)


@pytest.mark.needs("create", "jobs")  # `db backups` lists the backups from a Job
@pytest.mark.needs("list", "cronjobs")
@pytest.mark.needs("get", "pods/log")
@pytest.mark.needs("list", "secrets")
@pytest.mark.requirement("D15.6", "the hooks run again at the next upgrade without colliding with the last run")
def test_hooks_rerun_at_next_upgrade(suite, cluster, namespace, values, prefix):
    if suite.target.deployed:
        pytest.skip("grading an existing release: the suite does not upgrade it")
    change = merge_values(values, {"migration": {"ttlSecondsAfterFinished": 3602}})
    release.upgrade(cluster, suite, namespace, change)
    info = release_record(cluster, namespace, prefix)
    assert info.get("revision") == "3" and info.get("phase") == "deployed", info
    listing = db.list_backups(db.target_for(cluster, namespace, suite.target.release)).log
    assert "pre-upgrade-r3" in listing and "pre-upgrade-r2" in listing, listing


@pytest.mark.disruptive
@pytest.mark.needs("patch", "statefulsets/scale")
@pytest.mark.needs("create", "pods/exec")
@pytest.mark.needs("list", "secrets")
@pytest.mark.requirement("D15.7", "a failing pre-upgrade backup stops the upgrade; no row is lost")
def test_failed_backup_stops_upgrade(suite, cluster, namespace, values, prefix, sitedb):
    if not suite.allow_disruption:
        pytest.skip("stops the database: run with --allow-disruption")
    if suite.target.deployed:
        pytest.skip("grading an existing release: the suite does not upgrade it")
    k = cluster.kube
    name = sitedb[0]
    before = row_counts(cluster, namespace, suite, name)
    config_before = k.core.read_namespaced_config_map(f"{prefix}-config", namespace).data
    database = stack.resolve(cluster, namespace, suite.target.component("database"))
    k.apps.patch_namespaced_stateful_set_scale(database.name, namespace, {"spec": {"replicas": 0}})
    try:
        wait_for(
            "the database pod to be gone",
            lambda: Check(not k.core.list_namespaced_pod(namespace, label_selector=database.selector).items, None),
            timeout=timeouts.POD_READY,
        )
        change = merge_values(values, {"django": {"logLevel": "ERROR"}, "hooks": {"backoffLimit": 0}})
        with pytest.raises(KubedefisError) as failure:
            release.upgrade(cluster, suite, namespace, change, timeout=timeouts.JOB)
        assert "pre-upgrade" in str(failure.value), failure.value
        failed = job(cluster, namespace, f"{prefix}-hook-backup")
        assert failed.status.failed and not failed.status.succeeded, failed.status
        assert k.core.read_namespaced_config_map(f"{prefix}-config", namespace).data == config_before, (
            "the upgrade changed the configuration although its backup failed"
        )
        history = cluster.helm().history(suite.target.release, namespace)
        assert history[-1]["status"] == "failed", history[-1]
    finally:
        k.apps.patch_namespaced_stateful_set_scale(database.name, namespace, {"spec": {"replicas": 1}})
        stack.wait_component(cluster, namespace, suite.target.component("database"), timeouts.DATABASE_READY)
    assert row_counts(cluster, namespace, suite, name) == before
