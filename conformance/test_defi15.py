"""Défi 15 — Ça mord !: Helm hooks around install and upgrade.

A pre-install/pre-upgrade Job prepares the configuration (and the backup volume), a
post-install/post-upgrade Job checks the live configuration; before an upgrade a Job backs
the database up, and its failure stops the upgrade; after an upgrade a Job verifies it
(migrations applied, no table lost rows). Hook names, weights and delete policies let the
same hooks run again at every upgrade.

The hooks are found by what they are, not by name: Helm hook Jobs, by their events and by whether
they mount a volume claim (the backup's); a backup is a hook that runs a dump tool onto a claim.
What a hook configured is read from the API server's own record (a ConfigMap's managedFields: who
wrote it, when), and the release's revision and status from Helm's history, never from a record
our chart keeps.
"""

from __future__ import annotations

import datetime
import re

import pytest

from kubedefis.core import manifests, timeouts
from kubedefis.core.errors import KubedefisError
from kubedefis.core.helm import merge_values
from kubedefis.core.waits import Check, wait_for
from kubedefis.harness import checks, discover
from kubedefis.harness import stage as stack
from kubedefis.stack import database as pg
from kubedefis.stack import dbops as db

PRESET = "defi15"
SIZE = "small"  # checks neither replica counts nor requests
LANE = "light"  # a small stage in the light lane: it balances the lanes' lengths (see harness.plugin.lane_of)
SITE_TABLES = ("garage_garage", "garage_car", "garage_key", "garage_loan", "auth_user")
LOGICAL_DUMP = re.compile(r"\b(pg_dump|pg_dumpall)\b|\bpg-backup\s+logical\b")
DUMP = re.compile(r"\b(pg_dump|pg_dumpall|pg_basebackup)\b|\bpg-backup\s+(logical|base)\b")


@pytest.fixture(scope="module")
def prefix(suite):
    return stack.fullname(suite)


def site_selector(cluster, namespace, suite) -> str:
    """The api component's pod selector (its pods tell which database the site uses)."""
    return stack.resolve(cluster, namespace, suite.target.component("api")).selector


@pytest.fixture(scope="module")
def sitedb(suite, cluster, namespace, values):
    """(database, user) of the site, from its live ConfigMap."""
    return discover.site_database(cluster.kube, namespace, suite.target, site_selector(cluster, namespace, suite))


def _hooks(rendered):
    return {o["metadata"]["name"]: o for o in rendered if "helm.sh/hook" in (o["metadata"].get("annotations") or {})}


def _events(obj) -> set[str]:
    return {
        e.strip() for e in (obj["metadata"].get("annotations") or {}).get("helm.sh/hook", "").split(",") if e.strip()
    }


def _claims(obj) -> list[str]:
    return [
        v["persistentVolumeClaim"]["claimName"]
        for v in manifests.pod_spec(obj).get("volumes") or []
        if "persistentVolumeClaim" in v
    ]


def _dumps(job) -> bool:
    return any(
        DUMP.search(" ".join(map(str, (c.get("command") or []) + (c.get("args") or []))))
        for c in manifests.containers(job)
    )


def _hook_roles(rendered) -> dict[str, list[dict]]:
    """The hook Jobs by role: configuration before and after the deployment (by their events), the backup
    (the one running a dump onto a claim, whatever its events: those are D15.1's), and the Job on the
    backup volume after the upgrade (verification)."""
    jobs = [o for o in _hooks(rendered).values() if o["kind"] == "Job"]
    return {
        "prepare": [j for j in jobs if {"pre-install", "pre-upgrade"} <= _events(j) and not _claims(j)],
        "check": [j for j in jobs if {"post-install", "post-upgrade"} <= _events(j) and not _claims(j)],
        "backup": [j for j in jobs if _claims(j) and _dumps(j)],
        "verify": [j for j in jobs if _claims(j) and not _dumps(j) and any(e.startswith("post-") for e in _events(j))],
    }


ROLE_TEXT = {
    "prepare": "a hook Job configuring before install and upgrade (pre-install, pre-upgrade)",
    "check": "a hook Job checking the configuration after install and upgrade (post-install, post-upgrade)",
    "backup": "a hook Job dumping the database onto a volume claim (the backup)",
    "verify": "a hook Job on the backup's claim after the upgrade",
}


def _hook_job(rendered, role):
    found = _hook_roles(rendered)[role]
    assert found, f"expected {ROLE_TEXT[role]}, found the hooks {sorted(_hooks(rendered))}"
    return found[0]


def _annotations(obj):
    return obj["metadata"].get("annotations") or {}


def job(cluster, namespace, name):
    return cluster.kube.batch.read_namespaced_job(name, namespace)


def live_hook(cluster, namespace, role) -> str:
    """The name of the live hook Job of a role (Helm keeps hook Jobs until their next run)."""
    jobs = []
    for item in cluster.kube.batch.list_namespaced_job(namespace).items:
        obj = manifests.live(item)
        obj["kind"] = "Job"
        jobs.append(obj)
    found = _hook_roles(jobs)[role]
    if not found:
        names = [j["metadata"]["name"] for j in jobs]
        pytest.fail(f"expected {ROLE_TEXT[role]} in {namespace}, found the Jobs {names}")
    return found[0]["metadata"]["name"]


def succeeded(cluster, namespace, name):
    found = job(cluster, namespace, name)
    return bool(found.status.succeeded), found


def helm_revision(cluster, suite, namespace) -> dict:
    """Helm's own record of the release's last revision (revision, status): every chart has it."""
    history = cluster.helm().history(suite.target.release, namespace)
    if not history:
        pytest.fail(f"expected Helm's history of release {suite.target.release} in {namespace}, found none")
    return history[-1]


def configmaps_written_during(cluster, namespace, job) -> list[str]:
    """The ConfigMaps something other than Helm wrote while the Job ran (its managedFields times).

    A hook "configures a ConfigMap" however it does it (kubectl, a client library, a script): the API
    server records who wrote each field set and when, to the second.
    """
    start, end = job.status.start_time, job.status.completion_time
    if start is None or end is None:
        return []
    low, high = start - datetime.timedelta(seconds=1), end + datetime.timedelta(seconds=1)
    written = []
    for cm in cluster.kube.core.list_namespaced_config_map(namespace).items:
        for entry in cm.metadata.managed_fields or []:
            if entry.manager != "helm" and entry.time is not None and low <= entry.time <= high:
                written.append(cm.metadata.name)
                break
    return written


def row_counts(cluster, namespace, suite, name):
    primary = stack.resolve(cluster, namespace, suite.target.component("database"))
    pod = stack.a_running_pod(cluster, namespace, primary).metadata.name
    counts = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in SITE_TABLES)
    return {r[0]: int(r[1]) for r in pg.node(cluster, namespace, pod).sql(counts, database=name)}


def site_config(cluster, namespace, suite) -> dict[str, dict]:
    """The data of every ConfigMap the site's Deployments (api, public) read: what an upgrade would change."""
    names = set()
    for key in ("api", "public"):
        dep = cluster.kube.apps.read_namespaced_deployment(
            stack.resolve(cluster, namespace, suite.target.component(key)).name, namespace
        )
        for container in manifests.containers(manifests.live(dep)):
            names |= {(s.get("configMapRef") or {}).get("name") for s in container.get("envFrom") or []}
            names |= {
                ((e.get("valueFrom") or {}).get("configMapKeyRef") or {}).get("name")
                for e in container.get("env") or []
            }
    names.discard(None)
    return {n: cluster.kube.core.read_namespaced_config_map(n, namespace).data or {} for n in sorted(names)}


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
        "prepare": {"pre-install", "pre-upgrade"},
        "check": {"post-install", "post-upgrade"},
        "backup": {"pre-upgrade"},
        "verify": {"post-upgrade"},
    }
    roles = _hook_roles(rendered)
    findings = []
    for role, events in wanted.items():
        if not roles[role]:
            findings.append(checks.Finding(role, ROLE_TEXT[role], f"the hooks {sorted(_hooks(rendered))}"))
        elif not any(_events(job) == events for job in roles[role]):
            found = {manifests.name_of(j): sorted(_events(j)) for j in roles[role]}
            findings.append(checks.Finding(role, f"helm.sh/hook {sorted(events)}", str(found)))
    checks.require("D15.1 hook events", findings)


@pytest.mark.static
@pytest.mark.requirement("D15.2", "hook weights order the steps; delete policies let every rerun replace the last one")
def test_rendered_hook_weights_and_policies(rendered):
    def weight(obj) -> int:
        return int(_annotations(obj).get("helm.sh/hook-weight", "0"))

    findings = []
    roles = {role: jobs[0] for role, jobs in _hook_roles(rendered).items() if jobs}  # a missing one is D15.1's
    # What a hook Job runs as (its ServiceAccount, Role, RoleBinding made as hooks) comes before it.
    accounts = {
        manifests.pod_spec(j).get("serviceAccountName")
        for j in roles.values()
        if manifests.pod_spec(j).get("serviceAccountName")
    }
    rbac = [o for o in _hooks(rendered).values() if o["kind"] in ("ServiceAccount", "Role", "RoleBinding")]
    first = [o for o in rbac if o["metadata"]["name"] in accounts or o["kind"] != "ServiceAccount"]
    chains = [[*([max(first, key=weight)] if first else []), *(roles[r] for r in ("prepare", "backup") if r in roles)]]
    chains.append([roles[r] for r in ("check", "verify") if r in roles])
    for chain in chains:
        values = [weight(o) for o in chain]
        if values != sorted(values) or len(set(values)) != len(values):
            names = [manifests.name_of(o) for o in chain]
            findings.append(checks.Finding("hook weights", f"{names} in increasing order", str(values)))
    for obj in _hooks(rendered).values():
        policy = _annotations(obj).get("helm.sh/hook-delete-policy", "")
        if _annotations(obj)["helm.sh/hook"] == "test":
            continue
        if "before-hook-creation" not in policy:
            findings.append(
                checks.Finding(manifests.name_of(obj), "delete policy before-hook-creation", policy or "none")
            )
        if str(obj["metadata"]["name"]).rstrip("0123456789") != obj["metadata"]["name"]:
            findings.append(
                checks.Finding(manifests.name_of(obj), "a fixed name (reruns replace it)", "a numbered one")
            )
    checks.require("D15.2 weights and policies", findings)


@pytest.mark.static
@pytest.mark.requirement("D15.3", "the pre-upgrade backup dumps the database to the backup volume")
def test_rendered_backup_hook(rendered):
    backup = _hook_job(rendered, "backup")
    findings = []
    for container in manifests.containers(backup):
        run = " ".join(map(str, (container.get("command") or []) + (container.get("args") or [])))
        if not LOGICAL_DUMP.search(run):
            findings.append(
                checks.Finding(manifests.name_of(backup), "a logical dump (pg_dump, pg-backup logical)", run)
            )
    verify = _hook_roles(rendered)["verify"]
    claims = set(_claims(backup))
    if verify and not claims & set(_claims(verify[0])):
        findings.append(
            checks.Finding(
                manifests.name_of(backup), f"the claim the post-upgrade hook reads {_claims(verify[0])}", str(claims)
            )
        )
    checks.require("D15.3 backup hook", findings)


# --- live tier --------------------------------------------------------------------------------------


@pytest.mark.needs("list", "secrets")  # Helm's history
@pytest.mark.requirement("D15.4", "after install, a post-install hook configured a ConfigMap; Helm says deployed")
def test_install_checked_by_post_install_hook(suite, cluster, namespace, values):
    name = live_hook(cluster, namespace, "check")
    ok, found = succeeded(cluster, namespace, name)
    assert ok, f"{name}: expected succeeded, found {found.status}"
    written = configmaps_written_during(cluster, namespace, found)
    assert written, (
        f"{name} ran from {found.status.start_time} to {found.status.completion_time}: expected a ConfigMap "
        f"written meanwhile (managedFields), found none"
    )
    revision = helm_revision(cluster, suite, namespace)
    assert revision.get("revision") == 1 and revision.get("status") == "deployed", revision


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
    stack.upgrade(cluster, suite, namespace, change)
    revision = helm_revision(cluster, suite, namespace)
    assert revision.get("revision") == 2, revision
    ok, backup_job = succeeded(cluster, namespace, live_hook(cluster, namespace, "backup"))
    assert ok, f"pre-upgrade backup Job: {backup_job.status}"
    migrate = job(cluster, namespace, f"{prefix}-migrate-2")
    done_at, applied_at = backup_job.status.completion_time, migrate.metadata.creation_timestamp
    assert done_at <= applied_at, f"the backup finished at {done_at}, after the upgrade was applied ({applied_at})"
    record("pre_upgrade_backup_seconds", (done_at - backup_job.status.start_time).total_seconds())
    listing = db.list_backups(
        db.database_for(cluster.kube, cluster.kubectl_command(), namespace, suite.target.release)
    ).log
    assert "pre-upgrade-r2" in listing, listing
    verify_name = live_hook(cluster, namespace, "verify")
    ok, verify = succeeded(cluster, namespace, verify_name)
    log = job_log(cluster, namespace, verify_name)
    assert ok, f"post-upgrade verification Job: {verify.status}\n{log}"
    assert "every migration is applied" in log and "rows ok" in log, log
    assert helm_revision(cluster, suite, namespace).get("status") == "deployed"
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
    stack.upgrade(cluster, suite, namespace, change)
    info = helm_revision(cluster, suite, namespace)
    assert info.get("revision") == 3 and info.get("status") == "deployed", info
    listing = db.list_backups(
        db.database_for(cluster.kube, cluster.kubectl_command(), namespace, suite.target.release)
    ).log
    assert "pre-upgrade-r3" in listing and "pre-upgrade-r2" in listing, listing


@pytest.mark.disruptive
@pytest.mark.needs("patch", "statefulsets/scale")
@pytest.mark.needs("create", "pods/exec")
@pytest.mark.needs("list", "secrets")
@pytest.mark.requirement("D15.7", "a failing pre-upgrade backup stops the upgrade; no row is lost")
def test_failed_backup_stops_upgrade(suite, cluster, namespace, values, prefix, sitedb):
    if suite.target.deployed:
        pytest.skip("grading an existing release: the suite does not upgrade it")
    k = cluster.kube
    name = sitedb[0]
    before = row_counts(cluster, namespace, suite, name)
    config_before = site_config(cluster, namespace, suite)
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
            stack.upgrade(cluster, suite, namespace, change, timeout=timeouts.JOB)
        assert "pre-upgrade" in str(failure.value), failure.value
        failed = job(cluster, namespace, live_hook(cluster, namespace, "backup"))
        assert failed.status.failed and not failed.status.succeeded, failed.status
        assert site_config(cluster, namespace, suite) == config_before, (
            "the upgrade changed the configuration although its backup failed"
        )
        history = cluster.helm().history(suite.target.release, namespace)
        assert history[-1]["status"] == "failed", history[-1]
    finally:
        k.apps.patch_namespaced_stateful_set_scale(database.name, namespace, {"spec": {"replicas": 1}})
        stack.wait_component(cluster, namespace, suite.target.component("database"), timeouts.DATABASE_READY)
    assert row_counts(cluster, namespace, suite, name) == before
