"""Défi 16 — Back it up boy: a backup system for the database's volume.

A CronJob takes logical backups (pg_dump, custom format) to a backup volume and keeps the
last N. A backup that cannot be restored is not a backup: the tests write known rows, back
up, destroy the data (a dropped table and every row of the site's other tables; then the whole
database volume), restore, and compare every row, byte for byte. The site's tables are read from
its database (each group's Django project has its own), never named by the suite.

The backup CronJob is found by what it does (a logical dump onto a volume claim), not by its name,
and everything is done with it, never with a tool of ours: a backup now is a Job made from its
jobTemplate (`kubectl create job --from=cronjob/NAME`); the backups are the PostgreSQL dumps holding
the site's tables that a pod made from its pod lists on its volume, a run's being the one written
while its Job ran; a restore is the target's `backup_restore` command (ours: pg_restore of the
custom-format dump) run by a Job made from its pod, on the file that run wrote.
"""

from __future__ import annotations

import re
import shlex
import time

import pytest
import yaml

from kubedefis.core import manifests, timeouts
from kubedefis.harness import access, backups, checks, discover
from kubedefis.harness import stage as stack
from kubedefis.harness import target as targets
from kubedefis.stack import database as pg

PRESET = "defi16"
SIZE = "small"  # checks neither replica counts nor requests
KEEP = 2  # retention under test: small, so that it is reached quickly
OVERRIDES = {"backup": {"keep": KEEP}}
PROBE = "kubedefis_restore_probe"
OWN_CHART_NAME = "kubedefis"  # chart/Chart.yaml: our chart (or a broken copy of it, tests/harness)
LOGICAL_DUMP = re.compile(r"\b(pg_dump|pg_dumpall)\b|\bpg-backup\s+logical\b")
BASE_BACKUP = re.compile(r"\bpg_basebackup\b|\bpg-backup\s+base\b")
RETENTION = re.compile(r"--(?:keep|retention)[\s=]+(\d+)")


def site_selector(cluster, namespace, suite) -> str:
    """The api component's pod selector (its pods tell which database the site uses)."""
    return stack.resolve(cluster, namespace, suite.target.component("api")).selector


@pytest.fixture(scope="module")
def sitedb(suite, cluster, namespace, values):
    """(database, user) of the site, from its live ConfigMap."""
    return discover.site_database(cluster.kube, namespace, suite.target, site_selector(cluster, namespace, suite))


def primary(cluster, namespace, suite):
    found = stack.wait_component(cluster, namespace, suite.target.component("database"), timeouts.DATABASE_READY)
    pod = stack.a_running_pod(cluster, namespace, found)
    return pg.node(cluster, namespace, pod, port=suite.target.database_port)


def site_tables(node, database) -> tuple[pg.Table, ...]:
    """Every table of the site's database (each group's own, read from it), the suite's probe included."""
    tables = pg.tables_of(node, database)
    assert any(t.name == PROBE for t in tables), f"expected the table {PROBE} the suite wrote, found {tables}"
    return tables


def settled(before: dict[str, str], during: dict[str, str], record) -> list[str]:
    """The tables to compare after a restore: those the running site did not write while the backup ran
    (pg.unchanged), the suite's probe table always."""
    compared = pg.unchanged(before, during, always=[t for t in before if t.endswith(f".{PROBE}")])
    moving = [t for t in before if t not in compared]
    if moving:
        record("tables_written_during_the_backup", moving)
    return compared


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


def retention_settings(objects, cronjob) -> dict[str, str]:
    """The settings of the CronJob that say how many logical backups it keeps (base backups, an option, keep
    theirs: D16.2): its KEEP/RETENTION variables (resolved through ConfigMaps and Secrets), a --keep option."""
    found = {}
    for container in manifests.containers(cronjob):
        for name, value in discover.env_of(objects, container).items():
            if re.search(r"KEEP|RETENTION", name, re.IGNORECASE) and "BASE" not in name.upper():
                found[name] = str(value.value)
        match = RETENTION.search(_command(container))
        if match:
            found["--keep"] = match.group(1)
    return found


@pytest.mark.static
@pytest.mark.requirement("D16.3", f"only the last {KEEP} backups are kept")
def test_rendered_retention(suite, rendered):
    found = retention_settings(rendered, backup_cronjob(rendered))
    if _our_chart(suite):  # rendered with OVERRIDES: the chart must keep what it was told
        assert str(KEEP) in found.values(), (
            f"expected the CronJob to keep {KEEP} backups, found the settings {found or 'none'}"
        )
        return
    # A group's chart keeps its own number (the course names none): one, and at least one backup.
    counts = {int(v) for v in found.values() if v.isdigit() and int(v) > 0}
    assert len(counts) == 1, (
        f"expected the CronJob to keep a number of backups (a KEEP or RETENTION setting, or --keep N), "
        f"found the settings {found or 'none'}"
    )


def _our_chart(suite) -> bool:
    """Our chart (or a broken copy of it): the values keys the suite sets mean something to it."""
    return (yaml.safe_load((suite.chart / "Chart.yaml").read_text()) or {}).get("name") == OWN_CHART_NAME


@pytest.mark.static
@pytest.mark.requirement("D16.2", "the base-backup option adds pg_basebackup to each run (with replication)")
def test_rendered_base_backup_option(suite):
    # Our chart's own option, set by our chart's values keys: the course asks for "un système de
    # sauvegarde", not for base backups, and a group's chart has other keys (or no such option).
    if not _our_chart(suite):
        pytest.skip("D16.2 is our chart's base-backup option, not a course requirement: not graded on a group's chart")
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
    assert BASE_BACKUP.search(command) and LOGICAL_DUMP.search(command), (
        f"expected a base backup (pg_basebackup) and a logical dump in each run, found {command!r}"
    )


# --- live tier --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cronjob(cluster, namespace, values):
    """The live backup CronJob (as a dict): the one running a logical dump onto a volume claim."""
    return backup_cronjob(
        [dict(manifests.live(c), kind="CronJob") for c in cluster.kube.batch.list_namespaced_cron_job(namespace).items]
    )


def logical(files: list[backups.DumpFile]) -> list[backups.DumpFile]:
    """The PostgreSQL logical dumps among files, oldest first."""
    return sorted((f for f in files if f.logical), key=lambda f: (f.mtime, f.path))


def backup_now(cluster, namespace, cronjob) -> list[backups.DumpFile]:
    """A run of the CronJob now (a Job from its jobTemplate, as `kubectl create job --from=cronjob/...`): the
    PostgreSQL dumps it wrote on the volume, those holding the site's tables last."""
    name = cronjob["metadata"]["name"]
    job = backups.job_object(backups.unique(f"{name}-manual"), backups.job_spec(cronjob), owner=cronjob)
    done = backups.run_job(cluster.kube, namespace, job, timeout=timeouts.JOB)
    assert done.succeeded, (
        f"expected the run {done.name} of {name} to succeed, found {done.job.get('status')}\n{done.log}"
    )
    _, started, completed = backups.job_times(done.job)
    files = backups.list_dumps(cluster.kube, namespace, cronjob, timeout=timeouts.JOB)
    written = logical(backups.written_between(files, started, completed))
    assert written, (
        f"expected a PostgreSQL dump written by {done.name} between {started:%H:%M:%S} and {completed:%H:%M:%S} "
        f"on {sorted(_claims(cronjob))}, found {backups.describe(files)}\n{done.log}"
    )
    return sorted(written, key=lambda f: (f.site, f.mtime, f.path))


def restore(suite, cluster, namespace, cronjob, dump: backups.DumpFile):
    """The target's restore command on one backup file, run by a Job made from the CronJob's pod."""
    command = suite.target.backup_restore
    if command is None:
        if dump.format not in ("custom", "tar"):
            pytest.skip(
                f"the backup {dump} is no pg_dump archive that pg_restore reads, and the target says no other way "
                "to restore it (backup_restore)"
            )
        command = targets.BACKUP_RESTORE
    command = command.replace("{file}", shlex.quote(dump.path))
    spec = backups.with_command(backups.job_spec(cronjob), ["sh", "-c", command])
    job = backups.job_object(backups.unique(f"{cronjob['metadata']['name']}-restore"), spec)
    done = backups.run_job(cluster.kube, namespace, job, timeout=timeouts.JOB)
    assert done.succeeded, f"expected the restore `{command}` to succeed, found {done.job.get('status')}\n{done.log}"
    return done


@pytest.mark.needs("create", "jobs")  # runs of the CronJob, and the listing of its volume
@pytest.mark.needs("list", "cronjobs")
@pytest.mark.needs("get", "pods/log")
@pytest.mark.requirement("D16.1", "a run of the CronJob writes a backup to the volume")
def test_cronjob_run_writes_a_backup(cluster, namespace, cronjob, record):
    assert cronjob["spec"].get("suspend") is not True, (
        f"{manifests.name_of(cronjob)} is suspended: it never runs on its own"
    )
    start = time.monotonic()
    written = backup_now(cluster, namespace, cronjob)
    record("backup_job_seconds", round(time.monotonic() - start, 1))
    record("backup", str(written[-1]))


@pytest.mark.needs("create", "jobs")  # runs of the CronJob, and the listing of its volume
@pytest.mark.needs("list", "cronjobs")
@pytest.mark.needs("get", "pods/log")
@pytest.mark.requirement("D16.3", f"only the last {KEEP} backups are kept")
def test_retention_keeps_the_last_n(suite, cluster, namespace, cronjob):
    keep = KEEP  # what the suite installed (OVERRIDES); a deployed stack keeps what its settings say
    if suite.target.deployed:
        objects = discover.live_objects(cluster.kube, namespace, "ConfigMap", "Secret")
        settings = retention_settings(objects, cronjob)
        counts = {int(v) for v in settings.values() if v.isdigit() and int(v) > 0}
        if len(counts) != 1:
            pytest.skip(f"the backup CronJob's settings give no one number of backups kept: {settings or 'none'}")
        keep = counts.pop()
    made = [backup_now(cluster, namespace, cronjob)[-1] for _ in range(keep + 1)]
    kept = logical(backups.list_dumps(cluster.kube, namespace, cronjob, timeout=timeouts.JOB))
    assert len(kept) == keep, f"expected {keep} backups kept, found {len(kept)}: {backups.describe(kept)}"
    assert [f.path for f in kept] == [f.path for f in made[-keep:]], (
        f"expected the newest {keep} of the runs' {backups.describe(made)} kept, found {backups.describe(kept)}"
    )


@pytest.mark.needs("create", "jobs")  # runs of the CronJob, the listing of its volume, the restore
@pytest.mark.needs("list", "cronjobs")
@pytest.mark.needs("get", "pods/log")
@pytest.mark.needs("create", "pods/exec")
@pytest.mark.disruptive
@pytest.mark.requirement("D16.4", "known rows, backed up, dropped, restored: every row back, byte for byte")
def test_restore_after_dropping_a_table(suite, cluster, namespace, cronjob, sitedb, site, record):
    name, user = sitedb
    node = primary(cluster, namespace, suite)
    write_known_rows(node, name, user)
    tables = site_tables(node, name)
    before = pg.fingerprint(node, name, tables)
    dump = backup_now(cluster, namespace, cronjob)[-1]
    compared = settled(before, pg.fingerprint(node, name, tables), record)
    # The destruction: the probe table dropped, every row of every other table of the site gone.
    probe = [t for t in tables if t.name == PROBE]
    rest = [t for t in tables if t.name != PROBE]
    node.sql(
        f"DROP TABLE {', '.join(t.sql for t in probe)};"
        + (f" TRUNCATE {', '.join(t.sql for t in rest)} CASCADE;" if rest else ""),
        database=name,
    )
    destroyed = pg.fingerprint(node, name, tables)
    left = pg.emptied({t: destroyed[t] for t in compared})
    assert destroyed[str(probe[0])] == "missing" and not left, f"the destruction did not happen: rows left in {left}"
    record("tables_destroyed", len(tables))
    start = time.monotonic()
    done = restore(suite, cluster, namespace, cronjob, dump)
    record("restore_seconds", round(time.monotonic() - start, 1))
    record("restore_job_log", done.log[-500:])
    changed = pg.differences(before, pg.fingerprint(node, name, tables), compared)
    assert not changed, f"tables differ after restoring {dump} (rows:md5 before, after): {changed}"
    probe = suite.target.site.api_probe  # an API read of the database (the target's, else ours)
    access.wait_http(f"the site after the restore ({probe})", lambda: site.get(probe), timeout=timeouts.HTTP_READY)


@pytest.mark.disruptive
@pytest.mark.needs("create", "jobs")  # runs of the CronJob, the listing of its volume, the restore
@pytest.mark.needs("list", "cronjobs")
@pytest.mark.needs("get", "pods/log")
@pytest.mark.needs("create", "pods/exec")
@pytest.mark.needs("delete", "persistentvolumeclaims")
@pytest.mark.needs("delete", "pods")
@pytest.mark.requirement(
    "D16.5", "the database volume deleted: a restore into the new empty database brings it all back"
)
def test_restore_after_losing_the_database_volume(suite, cluster, namespace, cronjob, sitedb, site, record):
    name, user = sitedb
    node = primary(cluster, namespace, suite)
    write_known_rows(node, name, user)  # its own rows: this check does not depend on D16.4's
    tables = site_tables(node, name)
    before = pg.fingerprint(node, name, tables)
    dump = backup_now(cluster, namespace, cronjob)[-1]
    compared = settled(before, pg.fingerprint(node, name, tables), record)
    start = time.monotonic()
    pg.rebuild(cluster.kube, namespace, node.pod, timeout=timeouts.DATABASE_READY)
    fresh = primary(cluster, namespace, suite)
    assert fresh.value(f"SELECT to_regclass('{PROBE}') IS NULL", database=name) == "t", "the volume was not replaced"
    restore(suite, cluster, namespace, cronjob, dump)
    record("disaster_recovery_seconds", round(time.monotonic() - start, 1))
    changed = pg.differences(before, pg.fingerprint(fresh, name, tables), compared)
    assert not changed, f"tables differ after restoring {dump} (rows:md5 before, after): {changed}"
    probe = suite.target.site.api_probe
    stats = access.wait_http(f"the site after the restore ({probe})", lambda: site.get(probe), timeout=timeouts.ROLLOUT)
    assert stats.status == 200, stats
