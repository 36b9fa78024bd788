"""Défi 16 — Back it up boy: a backup system for the database's volume.

A CronJob takes logical backups (pg_dump, custom format) to a backup volume and keeps the
last N. A backup that cannot be restored is not a backup: the tests write known rows, back
up, destroy the data (a dropped table; then the whole database volume), restore with
`kubedefis db restore`, and compare every row, byte for byte.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest

from kubedefis import db
from kubedefis.harness import access, checks, release, stack, timeouts
from kubedefis.harness import postgres as pg
from kubedefis.harness.measures import record_fixture  # noqa: F401  (the `record` fixture)

PRESET = "defi16"
KEEP = 2  # retention under test: small, so that it is reached quickly
OVERRIDES = {"backup": {"keep": KEEP}}
PROBE = "kubedefis_restore_probe"
SITE_TABLES = ("garage_garage", "garage_car", "garage_key", "garage_loan", "auth_user", "django_migrations")
BACKUP_LINE = re.compile(r"^(\d{8}T\d{6}Z-[a-z0-9-]+)\tlogical\t", re.MULTILINE)


@pytest.fixture(scope="module")
def rendered(suite):
    return release.render(suite, PRESET, OVERRIDES)


@pytest.fixture(scope="module")
def values(suite, cluster, namespace):
    return release.install(cluster, suite, namespace, PRESET, OVERRIDES)


@pytest.fixture(scope="module")
def target(suite, cluster, namespace, values):
    return db.target_for(cluster, namespace, suite.target.release)


@pytest.fixture(scope="module")
def site(cluster, values):
    return cluster.ingress(values["ingress"]["host"])


@pytest.fixture(scope="module")
def sitedb(suite, cluster, namespace, values):
    """(database, user) of the site, from its live ConfigMap."""
    return release.site_database(cluster, namespace, suite)


def primary(cluster, namespace, suite):
    found = stack.wait_component(cluster, namespace, suite.target.component("database"), timeouts.DATABASE_READY)
    return pg.node(cluster, namespace, stack.running_pods(cluster, namespace, found.selector)[0].metadata.name)


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


@pytest.mark.static
@pytest.mark.requirement("D16.1", "a CronJob dumps the database to the backup volume, one run at a time")
def test_rendered_cronjob(rendered):
    cronjob = release.find(rendered, "CronJob", "-backup")
    container = checks.containers(cronjob)[0]
    claims = [
        v["persistentVolumeClaim"]["claimName"]
        for v in checks.pod_spec(cronjob)["volumes"]
        if "persistentVolumeClaim" in v
    ]
    env = release.env_of(container)
    findings = []
    if "pg-backup logical" not in " ".join(container.get("command") or []):
        findings.append(checks.Finding("backup command", "pg-backup logical", str(container.get("command"))))
    if cronjob["spec"].get("concurrencyPolicy") != "Forbid":
        findings.append(checks.Finding("concurrencyPolicy", "Forbid", str(cronjob["spec"].get("concurrencyPolicy"))))
    if not claims or not claims[0].endswith("-backups"):
        findings.append(checks.Finding("backup volume", "the claim *-backups", str(claims)))
    if env.get("BACKUP_KEEP") != str(KEEP):
        findings.append(checks.Finding("retention", f"BACKUP_KEEP={KEEP}", str(env.get("BACKUP_KEEP"))))
    prepare = release.env_of(checks.containers(release.find(rendered, "Job", "-hook-prepare"))[0])
    if prepare.get("BACKUP_CLAIM") not in claims:
        findings.append(checks.Finding("hook-prepare", f"makes the claim {claims}", str(prepare.get("BACKUP_CLAIM"))))
    checks.require("D16.1 CronJob", findings)


@pytest.mark.static
@pytest.mark.requirement("D16.2", "the base-backup option adds pg_basebackup to each run (with replication)")
def test_rendered_base_backup_option(suite):
    objects = release.render(
        suite,
        PRESET,
        {
            "database": {"kind": "Replicated"},
            "replication": {"enabled": True},
            "backup": {"baseBackup": {"enabled": True}},
        },
    )
    command = " ".join(checks.containers(release.find(objects, "CronJob", "-backup"))[0]["command"])
    assert "pg-backup base" in command and "pg-backup logical" in command, command


# --- live tier --------------------------------------------------------------------------------------


@pytest.mark.needs("create", "jobs")  # `db backup` / `db backups` run Jobs
@pytest.mark.needs("list", "cronjobs")
@pytest.mark.needs("get", "pods/log")
@pytest.mark.requirement("D16.1", "a run of the CronJob writes a backup to the volume")
def test_cronjob_run_writes_a_backup(target, record):
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
        made.append(logical_backups(target)[0])
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
    if not suite.allow_disruption:
        pytest.skip("drops a table of the graded database before restoring it: run with --allow-disruption")
    name, user = sitedb
    node = primary(cluster, namespace, suite)
    write_known_rows(node, name, user)
    tables = (PROBE, *SITE_TABLES)
    before = fingerprint(node, name, tables)
    label = f"before-drop-{uuid.uuid4().hex[:6]}"
    db.backup(target, label)
    backup_name = next(n for n in logical_backups(target) if n.endswith(label))
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
    if not suite.allow_disruption:
        pytest.skip("deletes the database's volume: run with --allow-disruption")
    name = sitedb[0]
    node = primary(cluster, namespace, suite)
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
