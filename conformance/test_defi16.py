"""Défi 16 — Back it up boy: a backup system for the database's volume.

A CronJob takes logical backups (pg_dump, custom format) to a backup volume and keeps the
last N. A backup that cannot be restored is not a backup: the tests write known rows, back
up, destroy the data (a dropped table; then the whole database volume), restore with
`kubedefis db restore`, and compare every row, byte for byte.

The backup CronJob is found by what it does (a logical dump onto a volume claim), not by its name.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest

from kubedefis.core import manifests, timeouts
from kubedefis.harness import access, checks, discover
from kubedefis.harness import stage as stack
from kubedefis.stack import database as pg
from kubedefis.stack import dbops as db

PRESET = "defi16"
SIZE = "small"  # checks neither replica counts nor requests
KEEP = 2  # retention under test: small, so that it is reached quickly
OVERRIDES = {"backup": {"keep": KEEP}}
PROBE = "kubedefis_restore_probe"
SITE_TABLES = ("garage_garage", "garage_car", "garage_key", "garage_loan", "auth_user", "django_migrations")
BACKUP_LINE = re.compile(r"^(\d{8}T\d{6}Z-[a-z0-9-]+)\tlogical\t", re.MULTILINE)
LOGICAL_DUMP = re.compile(r"\b(pg_dump|pg_dumpall)\b|\bpg-backup\s+logical\b")
RETENTION = re.compile(r"--(?:keep|retention)[\s=]+(\d+)")


@pytest.fixture(scope="module")
def target(suite, cluster, namespace, values):
    return db.database_for(cluster.kube, cluster.kubectl_command(), namespace, suite.target.release)


def site_selector(cluster, namespace, suite) -> str:
    """The api component's pod selector (its pods tell which database the site uses)."""
    return stack.resolve(cluster, namespace, suite.target.component("api")).selector


@pytest.fixture(scope="module")
def sitedb(suite, cluster, namespace, values):
    """(database, user) of the site, from its live ConfigMap."""
    return discover.site_database(cluster.kube, namespace, suite.target, site_selector(cluster, namespace, suite))


def primary(cluster, namespace, suite):
    found = stack.wait_component(cluster, namespace, suite.target.component("database"), timeouts.DATABASE_READY)
    return pg.node(cluster, namespace, stack.a_running_pod(cluster, namespace, found).metadata.name)


def logical_backups(target):
    return BACKUP_LINE.findall(db.list_backups(target).log)


def fingerprint(node, database, tables):
    """md5 of every row of each table, in key order: equal fingerprints = the same bytes."""
    out = {}
    for table in tables:
        out[table] = node.value(
            f"SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') FROM {table} t",
            database=database,
        )
    return out


def write_known_rows(node, database, user):
    """A table owned by the site's user (pg_dump runs as that user), with awkward values."""
    node.sql(
        f"SET ROLE {user};"
        f" CREATE TABLE IF NOT EXISTS {PROBE} (id bigserial PRIMARY KEY, token text NOT NULL, raw bytea,"
        " amount numeric(30, 10), note text, at timestamptz, doc jsonb);"
        f" INSERT INTO {PROBE} (token, raw, amount, note, at, doc)"
        " SELECT md5(g::text), decode(repeat(lpad(to_hex(g % 256), 2, '0'), g % 50), 'hex'),"
        " g * 1234567.0123456789, CASE WHEN g % 7 = 0 THEN NULL ELSE E'ligne \\u00e9\\t' || g || E'\\n\\\\ fin' END,"
        " timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute 1.5 seconds',"
        " jsonb_build_object('g', g, 'texte', 'Évry', 'liste', jsonb_build_array(g, null, true))"
        " FROM generate_series(1, 500) g;",
        database=database,
    )


# --- static tier ----------------------------------------------------------------------------------


def _claims(obj) -> list[str]:
    return [
        v["persistentVolumeClaim"]["claimName"]
        for v in manifests.pod_spec(obj).get("volumes") or []
        if "persistentVolumeClaim" in v
    ]


def _command(container) -> str:
    return " ".join(map(str, (container.get("command") or []) + (container.get("args") or [])))


def backup_cronjob(objects):
    """The CronJob that dumps the database onto a volume claim (the first, if several)."""
    found = [
        o
        for o in objects
        if o.get("kind") == "CronJob"
        and _claims(o)
        and any(LOGICAL_DUMP.search(_command(c)) for c in manifests.containers(o))
    ]
    cronjobs = [manifests.name_of(o) for o in objects if o.get("kind") == "CronJob"]
    assert found, f"expected a CronJob running a logical dump (pg_dump) onto a volume claim, found {cronjobs or 'none'}"
    return found[0]


@pytest.mark.static
@pytest.mark.requirement("D16.1", "a CronJob dumps the database to the backup volume, one run at a time")
def test_rendered_cronjob(rendered):
    cronjob = backup_cronjob(rendered)
    claims = _claims(cronjob)
    findings = []
    if cronjob["spec"].get("concurrencyPolicy") != "Forbid":
        findings.append(checks.Finding("concurrencyPolicy", "Forbid", str(cronjob["spec"].get("concurrencyPolicy"))))
    # What makes it happen on its own: a schedule, and the CronJob not suspended.
    schedule = str(cronjob["spec"].get("schedule") or "")
    if len(schedule.split()) != 5 and not schedule.startswith("@"):
        findings.append(checks.Finding("schedule", "a cron schedule (5 fields or @daily...)", schedule or "none"))
    if cronjob["spec"].get("suspend") is True:
        findings.append(checks.Finding("suspend", "false (the CronJob runs on its own)", "true"))
    # The claim exists: rendered by the chart, or made by one of its hooks (named in its settings).
    made = {o["metadata"]["name"] for o in rendered if o.get("kind") == "PersistentVolumeClaim"}
    hooks = [o for o in rendered if "helm.sh/hook" in (o["metadata"].get("annotations") or {}) and o["kind"] == "Job"]
    named = {v.value for h in hooks for c in manifests.containers(h) for v in discover.env_of(rendered, c).values()}
    for claim in claims:
        if claim not in made and claim not in named:
            findings.append(checks.Finding("backup volume", f"the claim {claim} rendered or made by a hook", "neither"))
    checks.require("D16.1 CronJob", findings)


@pytest.mark.static
@pytest.mark.requirement("D16.3", f"only the last {KEEP} backups are kept")
def test_rendered_retention(rendered):
    # the logical backups' retention (base backups, an option, keep theirs: D16.2)
    cronjob = backup_cronjob(rendered)
    found = {}
    for container in manifests.containers(cronjob):
        for name, value in discover.env_of(rendered, container).items():
            if re.search(r"KEEP|RETENTION", name, re.IGNORECASE) and "BASE" not in name.upper():
                found[name] = value.value
        match = RETENTION.search(_command(container))
        if match:
            found["--keep"] = match.group(1)
    assert str(KEEP) in found.values(), (
        f"expected the CronJob to keep {KEEP} backups, found the settings {found or 'none'}"
    )


@pytest.mark.static
@pytest.mark.requirement("D16.2", "the base-backup option adds pg_basebackup to each run (with replication)")
def test_rendered_base_backup_option(suite):
    objects = stack.render(
        suite,
        PRESET,
        {
            "database": {"kind": "Replicated"},
            "replication": {"enabled": True},
            "backup": {"baseBackup": {"enabled": True}},
        },
    )
    command = " ".join(_command(c) for c in manifests.containers(backup_cronjob(objects)))
    assert "pg-backup base" in command and LOGICAL_DUMP.search(command), (
        f"expected a base backup (pg-backup base) and a logical dump in each run, found {command!r}"
    )


# --- live tier --------------------------------------------------------------------------------------


@pytest.mark.needs("create", "jobs")  # `db backup` / `db backups` run Jobs
@pytest.mark.needs("list", "cronjobs")
@pytest.mark.needs("get", "pods/log")
@pytest.mark.requirement("D16.1", "a run of the CronJob writes a backup to the volume")
def test_cronjob_run_writes_a_backup(cluster, namespace, target, record):
    live = [manifests.live(c) for c in cluster.kube.batch.list_namespaced_cron_job(namespace).items]
    running = [manifests.name_of(c) for c in live if c.get("spec", {}).get("suspend") is not True and _claims(c)]
    names = [manifests.name_of(c) for c in live]
    assert running, f"expected a backup CronJob that is not suspended (it runs on its own), found {names or 'none'}"
    before = logical_backups(target)
    run = db.backup(target)
    after = logical_backups(target)
    record("backup_job_seconds", round(run.seconds, 1))
    record("backup_job_log", run.log[-400:])
    new = sorted(set(after) - set(before))
    assert new, f"the CronJob's run wrote no new backup (before: {before}, after: {after})\n{run.log}"


@pytest.mark.needs("create", "jobs")  # `db backup` / `db backups` run Jobs
@pytest.mark.needs("list", "cronjobs")
@pytest.mark.needs("get", "pods/log")
@pytest.mark.requirement("D16.3", f"only the last {KEEP} backups are kept")
def test_retention_keeps_the_last_n(target):
    made = []
    for _ in range(KEEP + 1):
        db.backup(target)
        listed = logical_backups(target)
        assert listed, "a backup ran, and the backup volume lists no logical backup"
        made.append(listed[0])
    kept = logical_backups(target)
    assert len(kept) == KEEP, f"{len(kept)} backups kept, expected {KEEP}: {kept}"
    assert kept == sorted(made, reverse=True)[:KEEP], f"kept {kept}, the newest made were {made}"


@pytest.mark.needs("create", "jobs")  # `db backup` / `db backups` run Jobs
@pytest.mark.needs("list", "cronjobs")
@pytest.mark.needs("get", "pods/log")
@pytest.mark.needs("create", "pods/exec")
@pytest.mark.needs("patch", "deployments")  # `db restore` restarts the site when there is no Redis
@pytest.mark.disruptive
@pytest.mark.requirement("D16.4", "known rows, backed up, dropped, restored: every row back, byte for byte")
def test_restore_after_dropping_a_table(suite, cluster, namespace, target, sitedb, site, record):
    name, user = sitedb
    node = primary(cluster, namespace, suite)
    write_known_rows(node, name, user)
    tables = (PROBE, *SITE_TABLES)
    before = fingerprint(node, name, tables)
    label = f"before-drop-{uuid.uuid4().hex[:6]}"
    db.backup(target, label)
    backups = logical_backups(target)
    backup_name = next((n for n in backups if n.endswith(label)), None)
    assert backup_name, f"expected a backup labelled {label} after `db backup`, found {backups}"
    node.sql(f"DROP TABLE {PROBE}; TRUNCATE garage_loan, garage_key, garage_car CASCADE;", database=name)
    assert fingerprint(node, name, ("garage_car",))["garage_car"].startswith("0:"), "the destruction did not happen"
    start = time.monotonic()
    done = db.restore(target, backup_name)
    record("restore_seconds", round(time.monotonic() - start, 1))
    record("restore_job_log", done.log[-500:])
    after = fingerprint(node, name, tables)
    changed = {t: (before[t], after[t]) for t in tables if before[t] != after[t]}
    assert not changed, f"tables differ after the restore: {changed}"
    access.wait_http("the site after the restore", lambda: site.get("/api/stats"), timeout=timeouts.HTTP_READY)


@pytest.mark.disruptive
@pytest.mark.needs("create", "jobs")  # `db backup` / `db backups` run Jobs
@pytest.mark.needs("list", "cronjobs")
@pytest.mark.needs("get", "pods/log")
@pytest.mark.needs("create", "pods/exec")
@pytest.mark.needs("patch", "deployments")  # `db restore` restarts the site when there is no Redis
@pytest.mark.needs("delete", "persistentvolumeclaims")
@pytest.mark.needs("delete", "pods")
@pytest.mark.requirement(
    "D16.5", "the database volume deleted: a restore into the new empty database brings it all back"
)
def test_restore_after_losing_the_database_volume(suite, cluster, namespace, target, sitedb, site, record):
    name, user = sitedb
    node = primary(cluster, namespace, suite)
    write_known_rows(node, name, user)  # its own rows: this check does not depend on D16.4's
    tables = (PROBE, *SITE_TABLES)
    before = fingerprint(node, name, tables)
    db.backup(target, "before-disaster")
    start = time.monotonic()
    pg.rebuild(cluster.kube, namespace, node.pod, timeout=timeouts.DATABASE_READY)
    fresh = primary(cluster, namespace, suite)
    assert fresh.value(f"SELECT to_regclass('{PROBE}') IS NULL", database=name) == "t", "the volume was not replaced"
    db.restore(target, "latest")
    record("disaster_recovery_seconds", round(time.monotonic() - start, 1))
    after = fingerprint(fresh, name, tables)
    changed = {t: (before[t], after[t]) for t in tables if before[t] != after[t]}
    assert not changed, f"tables differ after the restore: {changed}"
    stats = access.wait_http("the site after the restore", lambda: site.get("/api/stats"), timeout=timeouts.ROLLOUT)
    assert stats.status == 200, stats
