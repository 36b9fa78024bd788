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
our chart keeps. What an upgrade did is read from the Jobs it ran (watched while it runs: a hook Helm
deletes once it succeeded is seen first) and from the backup volume itself: a pod made from the backup
Job's own pod lists the PostgreSQL dumps written while that Job ran, whatever the tool (pg_dump,
pg_dumpall), the format or the file names. A verification verifies: run again (a Job from its own spec)
once a row of the site was lost since the backup, it must fail.
"""

from __future__ import annotations

import datetime
import re

import pytest

from kubedefis.core import manifests, timeouts
from kubedefis.core.errors import KubedefisError
from kubedefis.core.helm import merge_values
from kubedefis.core.waits import Check, wait_for
from kubedefis.harness import backups, checks, discover
from kubedefis.harness import stage as stack
from kubedefis.stack import database as pg

PRESET = "defi15"
SIZE = "small"  # checks neither replica counts nor requests
LANE = "light"  # a small stage in the light lane: it balances the lanes' lengths (see harness.plugin.lane_of)
# The site's tables are read from its database (pg.tables_of): each group's Django project has its own.
LOGICAL_DUMP = re.compile(r"\b(pg_dump|pg_dumpall)\b|\bpg-backup\s+logical\b")
DUMP = re.compile(r"\b(pg_dump|pg_dumpall|pg_basebackup)\b|\bpg-backup\s+(logical|base)\b")


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


def database_node(cluster, namespace, suite) -> pg.Node:
    """psql in a running pod of the database component (its PostgreSQL container found from the pod)."""
    primary = stack.resolve(cluster, namespace, suite.target.component("database"))
    pod = stack.a_running_pod(cluster, namespace, primary)
    return pg.node(cluster, namespace, pod, port=suite.target.database_port)


def row_counts(cluster, namespace, suite, name) -> dict[str, int]:
    """Rows per table of the site's database (its tables as they are now, `schema.name`)."""
    node = database_node(cluster, namespace, suite)
    return pg.row_counts(node, name, pg.tables_of(node, name))


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
        if _annotations(obj)["helm.sh/hook"] == "test":
            continue
        policies = _delete_policies(obj)
        if "before-hook-creation" not in policies:
            findings.append(
                checks.Finding(manifests.name_of(obj), "delete policy before-hook-creation", ",".join(policies))
            )
        if str(obj["metadata"]["name"]).rstrip("0123456789") != obj["metadata"]["name"]:
            findings.append(
                checks.Finding(manifests.name_of(obj), "a fixed name (reruns replace it)", "a numbered one")
            )
    checks.require("D15.2 weights and policies", findings)


def _delete_policies(obj: dict) -> list[str]:
    """The hook's delete policies as Helm reads them: none given (or only blanks) is before-hook-creation."""
    given = str(_annotations(obj).get("helm.sh/hook-delete-policy") or "")
    policies = [p.strip().lower() for p in given.split(",") if p.strip()]
    return policies or ["before-hook-creation"]


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
    assert revision.get("status") == "deployed", f"expected Helm's release deployed, found {revision}"
    # The suite's own install is its first revision; a group's release may have been upgraded since
    # (défi 8 asks for it): its hook then ran again at the upgrade, as post-install,post-upgrade.
    if not suite.target.deployed:
        assert revision.get("revision") == 1, f"expected the install (revision 1), found {revision}"


def this_upgrade(cluster, namespace, suite, values, ttl) -> tuple[datetime.datetime, list[dict]]:
    """Upgrade the release (a value our chart renders into its migration Job changes), watching the Jobs: the
    API server's time when it started, and the Jobs it made (hooks Helm deleted on success included)."""
    start = backups.server_time(cluster.kube, namespace)
    with backups.JobRecorder(cluster.kube, namespace) as seen:
        stack.upgrade(cluster, suite, namespace, merge_values(values, {"migration": {"ttlSecondsAfterFinished": ttl}}))
    return start, seen.started()


def ran_hook(ran: list[dict], role: str) -> dict:
    """The hook Job of a role among those an upgrade ran; fails naming what it ran."""
    found = _hook_roles(ran)[role]
    hooks = {manifests.name_of(j): sorted(_events(j)) for j in ran if backups.is_hook(j)}
    assert found, f"expected {ROLE_TEXT[role]} run by the upgrade, found the hook Jobs {hooks or 'none'}"
    return found[0]


def post_upgrade_checks(ran: list[dict]) -> list[dict]:
    """The post-upgrade hook Jobs that verify (not dump): the verification role first."""
    verify = _hook_roles(ran)["verify"]
    others = [j for j in ran if "post-upgrade" in _events(j) and not _dumps(j) and j not in verify]
    return verify + others


def require_succeeded(job: dict) -> None:
    status = {k: v for k, v in (job.get("status") or {}).items() if k in ("succeeded", "failed", "conditions")}
    assert backups.job_succeeded(job), f"{manifests.name_of(job)}: expected succeeded, found {status}"


def backup_on_volume(cluster, namespace, backup: dict) -> tuple[list[backups.DumpFile], list[backups.DumpFile]]:
    """The dumps of the site's database the backup Job wrote on its claim while it ran, and every file there
    (listed by a pod made from the Job's own pod); fails saying what the volume holds."""
    _, started, completed = backups.job_times(backup)
    assert started and completed, f"{manifests.name_of(backup)}: no start or completion time ({backup.get('status')})"
    files = backups.list_dumps(cluster.kube, namespace, backup, timeout=timeouts.JOB)
    written = backups.site_dumps(backups.written_between(files, started, completed))
    assert written, (
        f"expected a PostgreSQL dump of the site's database (naming {backups.SITE_MARKER}) written on "
        f"{sorted(_claims(backup))} by {manifests.name_of(backup)} between {started:%H:%M:%S} and "
        f"{completed:%H:%M:%S}, found {backups.describe(files)}"
    )
    return written, files


def lose_a_row(node, database) -> tuple[pg.Table, str]:
    """Delete one row of a site table that no foreign key references: (table, the row as JSON)."""
    tables = pg.tables_of(node, database)
    unreferenced = node.sql(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind = 'r'"
        " AND NOT EXISTS (SELECT FROM pg_constraint f WHERE f.contype = 'f' AND f.confrelid = c.oid)",
        database=database,
    )
    candidates = pg.row_loss_candidates(tables, unreferenced)
    for table in candidates:
        row = node.value(
            f"DELETE FROM {table.sql} t WHERE ctid = (SELECT ctid FROM {table.sql} LIMIT 1)"
            " RETURNING row_to_json(t)::text",
            database=database,
        )
        if row:
            return table, row
    pytest.fail(
        "expected a row in one of the site's tables nothing references "
        f"({', '.join(map(str, candidates)) or 'none'}; the site's tables: {', '.join(map(str, tables))}), "
        "found none"
    )


def put_back(node, database, table: pg.Table, row) -> None:
    node.sql(
        f"INSERT INTO {table.sql} SELECT * FROM json_populate_record(NULL::{table.sql}, {pg.literal(row)})",
        database=database,
    )


def verification_refuses_lost_rows(cluster, namespace, suite, database, checks_run: list[dict]) -> str:
    """Each post-upgrade verification run again (a Job from its own spec) after one row of the site was lost
    since the backup: one of them must fail. Returns the one that refused; the row is put back."""
    node = database_node(cluster, namespace, suite)
    table, row = lose_a_row(node, database)
    passed = []
    try:
        for hook in checks_run:
            spec = backups.job_spec(hook)
            spec["backoffLimit"] = 0
            job = backups.job_object(backups.unique(f"kd-refusal-{hook['metadata']['name']}"), spec, ttl=600)
            done = backups.run_job(cluster.kube, namespace, job, timeout=timeouts.JOB)
            if not done.succeeded:
                return manifests.name_of(hook)
            passed.append(f"{manifests.name_of(hook)}:\n{done.log[-600:]}")
    finally:
        put_back(node, database, table, row)
    pytest.fail(
        f"expected the post-upgrade verification to fail once a row of {table} was lost since the backup, "
        f"found every one succeeded: {passed or 'no post-upgrade check'}"
    )


@pytest.mark.needs("create", "pods/exec")
@pytest.mark.needs("create", "jobs")  # the volume listed, the verification run again, by Jobs from the hooks' own
@pytest.mark.needs("watch", "jobs")
@pytest.mark.needs("get", "pods/log")
@pytest.mark.needs("list", "secrets")
@pytest.mark.requirement("D15.5", "an upgrade leaves a backup made before it and a successful verification after it")
def test_upgrade_backs_up_before_and_verifies_after(suite, cluster, namespace, values, sitedb, record):
    if suite.target.deployed:
        pytest.skip("grading an existing release: the suite does not upgrade it")
    name = sitedb[0]
    before = row_counts(cluster, namespace, suite, name)
    start, ran = this_upgrade(cluster, namespace, suite, values, 3601)
    revision = helm_revision(cluster, suite, namespace)
    assert revision.get("revision") == 2 and revision.get("status") == "deployed", revision
    # The backup: a hook of this upgrade, done before Helm applied anything of the new revision.
    backup = ran_hook(ran, "backup")
    require_succeeded(backup)
    _, started, done_at = backups.job_times(backup)
    applied = backups.helm_writes_since(backups.namespace_objects(cluster.kube, namespace), start)
    if applied:
        assert done_at <= applied[0][0], (
            f"the backup {manifests.name_of(backup)} finished at {done_at:%H:%M:%S}, after the upgrade applied "
            f"{applied[0][1]} ({applied[0][0]:%H:%M:%S})"
        )
    else:  # nothing of the release changed: Helm runs a pre-upgrade hook before it would apply anything
        assert "pre-upgrade" in _events(backup), f"{manifests.name_of(backup)}: helm.sh/hook {sorted(_events(backup))}"
    record("pre_upgrade_backup_seconds", (done_at - started).total_seconds())
    written, _ = backup_on_volume(cluster, namespace, backup)
    record("pre_upgrade_backup", str(written[-1]))
    # The verification: post-upgrade hooks of this upgrade, run after the backup, succeeded...
    verifications = post_upgrade_checks(ran)
    assert verifications, (
        f"expected a post-upgrade hook Job verifying the upgrade, found {[manifests.name_of(j) for j in ran]}"
    )
    for check in verifications:
        require_succeeded(check)
        created = backups.job_times(check)[0]
        assert created and created >= done_at, (
            f"{manifests.name_of(check)} created at {created}, before the backup ended"
        )
    after = row_counts(cluster, namespace, suite, name)
    lost = pg.rows_lost(before, after)
    assert not lost, f"expected no table of the site to lose rows in the upgrade, found (before, after) {lost}"
    # ... and it verifies: a row lost since the backup makes it fail (the row is put back).
    record(
        "verification_refusing_lost_rows",
        verification_refuses_lost_rows(cluster, namespace, suite, name, verifications),
    )
    assert row_counts(cluster, namespace, suite, name) == after


@pytest.mark.needs("create", "jobs")  # the volume listed by Jobs made from the backup hook's own
@pytest.mark.needs("watch", "jobs")
@pytest.mark.needs("get", "pods/log")
@pytest.mark.needs("list", "secrets")
@pytest.mark.requirement("D15.6", "the hooks run again at the next upgrade without colliding with the last run")
def test_hooks_rerun_at_next_upgrade(suite, cluster, namespace, values, rendered):
    if suite.target.deployed:
        pytest.skip("grading an existing release: the suite does not upgrade it")
    # The last upgrade's backup, on the volume before this one (the backup hook as it lives, or as rendered).
    jobs = [dict(manifests.live(j), kind="Job") for j in cluster.kube.batch.list_namespaced_job(namespace).items]
    source = (_hook_roles(jobs)["backup"] or [_hook_job(rendered, "backup")])[0]
    kept = backups.site_dumps(backups.list_dumps(cluster.kube, namespace, source, timeout=timeouts.JOB))
    assert kept, f"expected the last upgrade's backup on {sorted(_claims(source))} (D15.5), found none"
    last = kept[-1]
    _, ran = this_upgrade(cluster, namespace, suite, values, 3602)
    info = helm_revision(cluster, suite, namespace)
    assert info.get("revision") == 3 and info.get("status") == "deployed", info
    backup = ran_hook(ran, "backup")
    require_succeeded(backup)
    for check in post_upgrade_checks(ran) or [ran_hook(ran, "verify")]:
        require_succeeded(check)
    written, now = backup_on_volume(cluster, namespace, backup)
    assert last in now, (
        f"expected the last upgrade's backup {last} kept beside this one's ({written[-1]}), "
        f"found {backups.describe(now)}"
    )


@pytest.mark.disruptive
@pytest.mark.needs("patch", "statefulsets/scale")
@pytest.mark.needs("create", "pods/exec")
@pytest.mark.needs("list", "secrets")
@pytest.mark.requirement("D15.7", "a failing pre-upgrade backup stops the upgrade; no row is lost")
def test_failed_backup_stops_upgrade(suite, cluster, namespace, values, sitedb):
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
