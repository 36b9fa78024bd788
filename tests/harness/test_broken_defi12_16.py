"""Défis 12-16, live: each conformance module fails on a stack that breaks its requirement, and only there.

Each case installs a deliberately broken stage in its own namespace and runs the module in a
subprocess: a hand-in with a mutation (défi 12), the preset with one value changed, or a copy of the
chart with template edits (what no value can break). Each declares the requirement ids it breaks
(`breaks`) and its run must fail exactly those (tests/harness/requirements.py). Some faults rightly
fail the checks that depend on what they break (a replica that does not stream receives no row,
and a rebuilt one does not stream again): one stack then serves several cases, each keeping the
checks of one requirement and deselecting (-k) the dependent ones; the docstring names them.
"""

from __future__ import annotations

import pytest
from requirements import caught, edited_chart
from variants import broken_chart, broken_handin, broken_values, of_kind


@pytest.fixture(autouse=True)
def shorter_deadlines(monkeypatch):
    # Broken stacks never get where the deadlines wait for; working parts still need time on 2 cores.
    monkeypatch.setenv("KUBEDEFIS_TIMEOUT_SCALE", "0.75")


def _replica_containers(docs):
    for sts in of_kind(docs, "StatefulSet"):
        if sts["metadata"]["name"] == "pg-replica":
            yield from sts["spec"]["template"]["spec"]["containers"]


def replicas_are_primaries(docs: list[dict]) -> None:
    """Défi 12 broken: the replica StatefulSet starts independent primaries (nothing streams)."""
    for container in _replica_containers(docs):
        for env in container["env"]:
            if env["name"] == "POSTGRES_ROLE":
                env["value"] = "primary"


def replicas_apply_late(docs: list[dict]) -> None:
    """Défi 12 broken: the replicas stream, but replay what they receive 5 s late."""
    for container in _replica_containers(docs):
        container["args"] = [*container.get("args", []), "-c", "recovery_min_apply_delay=5s"]


# Replicas that are primaries break streaming (D12.4), and with it what needs a streaming replica:
# the row reaching them (D12.5), the refusal of writes (D12.6), the rebuild streaming again (D12.7).
# Each case keeps one of those and deselects the others.
NOT_STREAMING_12 = {
    "D12.4": "not row_reaches and not refuse and not rebuilt",
    "D12.6": "not every_replica_streams and not row_reaches and not rebuilt",
    "D12.7": "not every_replica_streams and not row_reaches and not refuse",
}


@pytest.mark.parametrize(
    "kept",
    [pytest.param(rid, marks=pytest.mark.breaks(rid), id=f"{rid}-replicas-are-primaries") for rid in NOT_STREAMING_12],
)
def test_defi12_catches_replicas_that_do_not_stream(kept, request, pytester, tmp_path):
    root = broken_handin(tmp_path, "defi12", replicas_are_primaries)
    caught(request, pytester, "test_defi12.py", "--handin", str(root), "-k", NOT_STREAMING_12[kept])


@pytest.mark.breaks("D12.5")
def test_defi12_catches_replicas_that_replay_late(request, pytester, tmp_path):
    root = broken_handin(tmp_path, "defi12", replicas_apply_late)
    caught(request, pytester, "test_defi12.py", "--handin", str(root))


# --- défi 13 ----------------------------------------------------------------------------------------

REPLICAS_ARE_PRIMARIES = (
    "charts/postgresql-replication/templates/_helpers.tpl",
    "            - name: POSTGRES_ROLE\n              value: auto",
    '            - name: POSTGRES_ROLE\n              value: {{ ternary "auto" "primary" (eq $member "primary") }}',
)
# What needs streaming replicas, deselected in each case but the one it keeps: the row reaching
# them (D13.8), the site reading the data there (D13.5), replicas unready without a primary
# (D13.4), the failover (D13.11), and the three below.
NEEDS_STREAMING_13 = ("row_reaches", "site_reads", "unready", "failover")
NOT_STREAMING_13 = {"D13.7": "every_replica_streams", "D13.9": "refuse", "D13.10": "rebuilt"}


@pytest.mark.parametrize(
    "kept",
    [pytest.param(rid, marks=pytest.mark.breaks(rid), id=f"{rid}-replicas-are-primaries") for rid in NOT_STREAMING_13],
)
def test_defi13_catches_replicas_that_do_not_stream(kept, request, pytester, tmp_path):
    chart = broken_chart(tmp_path, *REPLICAS_ARE_PRIMARIES)
    # No synchronous standby asked: with one asked and none streaming, every commit of the primary waits
    # forever and the install never ends (the migrations hang), which is another fault than this one.
    values = broken_values(tmp_path, "defi13", {"replication": {"synchronousStandbys": 0}})
    others = [k for rid, k in NOT_STREAMING_13.items() if rid != kept] + list(NEEDS_STREAMING_13)
    deselected = " and ".join(f"not {k}" for k in others)
    caught(request, pytester, "test_defi13.py", "--chart", str(chart), "--values", str(values), "-k", deselected)


@pytest.mark.breaks("D13.5")
def test_defi13_catches_a_site_that_never_reads_from_replicas(request, pytester, tmp_path):
    values = broken_values(tmp_path, "defi13", {"replication": {"readsToReplicas": False}})
    caught(request, pytester, "test_defi13.py", "--values", str(values), "-k", "not failover and not rebuilt")


@pytest.mark.breaks("D13.8")
def test_defi13_catches_replicas_that_replay_late(request, pytester, tmp_path):
    """Replicas 5 s behind in replay. The failover, which promotes one of them, is deselected."""
    values = broken_values(tmp_path, "defi13", {"replication": {"config": {"recovery_min_apply_delay": "5s"}}})
    caught(request, pytester, "test_defi13.py", "--values", str(values), "-k", "not failover")


@pytest.mark.breaks("D13.11")
def test_defi13_catches_a_failover_that_cannot_repoint_writes(request, pytester, tmp_path):
    """The topology names a write Service that does not exist: `db promote` cannot point writes at the new
    primary (the site itself writes through the real one)."""
    chart = broken_chart(
        tmp_path, "charts/postgresql-replication/templates/topology-configmap.yaml",
        'writeService: {{ include "pgr.rwName" . | quote }}', 'writeService: "no-such-service"',
    )  # fmt: skip
    caught(request, pytester, "test_defi13.py", "--chart", str(chart), "-k", "not rebuilt")


# --- défi 14 ----------------------------------------------------------------------------------------


@pytest.mark.breaks("D14.1")
def test_defi14_catches_a_cache_without_eviction(request, pytester, tmp_path):
    values = broken_values(tmp_path, "defi14", {"cache": {"maxmemoryPolicy": "noeviction"}})
    caught(request, pytester, "test_defi14.py", "--values", str(values), "-k", "not measure")


@pytest.mark.breaks("D14.3")
def test_defi14_catches_a_site_that_never_reaches_its_cache(request, pytester, tmp_path):
    """The site's CACHE_URL carries a wrong password: Redis refuses it, the site reads PostgreSQL every time
    (its Redis wrapper forgives). D14.4 and D14.3's measurement then have no cache to test: skipped."""
    chart = broken_chart(
        tmp_path, "templates/_helpers.tpl", '(printf "redis://:%s@%s:%v/0" $data.REDIS_PASSWORD',
        '(printf "redis://:%s-wrong@%s:%v/0" $data.REDIS_PASSWORD',
    )  # fmt: skip
    caught(request, pytester, "test_defi14.py", "--chart", str(chart))


REDIS_READINESS = (
    "templates/_django.tpl",
    "          readinessProbe:\n            httpGet:\n              path: /readyz\n              port: http\n",
    '          readinessProbe:\n            exec:\n              command: ["python", "-c", "import os, redis;'
    " redis.Redis.from_url(os.environ['CACHE_URL'], socket_timeout=1, socket_connect_timeout=1).ping()\"]\n",
)


@pytest.mark.breaks("D14.6")
def test_defi14_catches_a_site_that_needs_redis_to_be_ready(request, pytester, tmp_path):
    """The site's readiness asks Redis: with Redis gone every site pod leaves its Service within 15 s."""
    chart = broken_chart(tmp_path, *REDIS_READINESS)
    caught(request, pytester, "test_defi14.py", "--chart", str(chart))


# The non-hook migration Job, with one more step after the migrations: a trigger keeps the data version's row
# as it was, so the site's writes no longer change the key its cached pages are stored under. (The function's
# body is quoted $kd$...$kd$: Kubernetes turns "$$" in a container's args into "$".)
STALE_CACHE = (
    "templates/migrate-job.yaml",
    '{{- $steps := concat (list $wait) $token (list (dict "name" "migrate" "args" (list "migrate_stage" "--phase" '
    '"post"))) -}}',
    '{{- $steps := concat (list $wait) $token (list (dict "name" "migrate" "args" (list "migrate_stage" "--phase" '
    '"post")) (dict "name" "stale-cache" "args" (list "shell" "-c" `from django.db import connection; '
    'c = connection.cursor(); c.execute("CREATE OR REPLACE FUNCTION kd_keep_version() RETURNS trigger LANGUAGE '
    'plpgsql AS $kd$ BEGIN RETURN OLD; END $kd$"); c.execute("DROP TRIGGER IF EXISTS kd_keep_version ON '
    'garage_dataversion"); c.execute("CREATE TRIGGER kd_keep_version BEFORE UPDATE ON garage_dataversion FOR '
    'EACH ROW EXECUTE FUNCTION kd_keep_version()")`))) -}}',
)


@pytest.mark.breaks("D14.4")
def test_defi14_catches_a_cache_that_writes_do_not_invalidate(request, pytester, tmp_path):
    """Writes leave the data version as it was (a trigger undoes its bump): a garage just created stays missing
    from the list Redis serves. The measurement (D14.3) is deselected, as in the other défi 14 cases."""
    chart = broken_chart(tmp_path, *STALE_CACHE)
    caught(request, pytester, "test_defi14.py", "--chart", str(chart), "-k", "not measure")


# --- défi 15 ----------------------------------------------------------------------------------------


@pytest.mark.breaks("D15.1", "D15.5", "D15.7")
def test_defi15_catches_a_backup_taken_after_the_upgrade(request, pytester, tmp_path):
    chart = broken_chart(
        tmp_path,
        "templates/hook-backup-job.yaml",
        '"events" "pre-upgrade" "weight" 0',
        '"events" "post-upgrade" "weight" 0',
    )
    caught(request, pytester, "test_defi15.py", "--chart", str(chart))


@pytest.mark.breaks("D15.4")
def test_defi15_catches_a_post_install_hook_that_configures_nothing(request, pytester, tmp_path):
    """The post-install hook compares the live configuration and succeeds, but writes no ConfigMap."""
    chart = broken_chart(
        tmp_path,
        "templates/hook-scripts.tpl",
        '    record("deployed", verifiedConfigSha256=digest)',
        '    print("nothing recorded")',
    )
    caught(request, pytester, "test_defi15.py", "--chart", str(chart))


@pytest.mark.breaks("D15.5")
def test_defi15_catches_a_verification_that_verifies_nothing(request, pytester, tmp_path):
    """The post-upgrade hook runs on the backup volume but compares no row count."""
    chart = broken_chart(
        tmp_path, "templates/hook-verify-job.yaml", '(list "pg-backup" "verify-rows" $label)', '(list "true")'
    )
    caught(request, pytester, "test_defi15.py", "--chart", str(chart))


@pytest.mark.breaks("D15.6")
def test_defi15_catches_a_rerun_that_loses_the_last_backup(request, pytester, tmp_path):
    """Backups kept: 1. Each upgrade's backup replaces the previous one, so the third revision's run
    leaves no trace of the second's."""
    values = broken_values(tmp_path, "defi15", {"backup": {"keep": 1}})
    caught(request, pytester, "test_defi15.py", "--values", str(values))


@pytest.mark.breaks("D15.7")
def test_defi15_catches_a_failed_backup_that_does_not_stop_the_upgrade(request, pytester, tmp_path):
    chart = broken_chart(
        tmp_path, "templates/hook-backup-job.yaml", '(list "pg-backup" "logical" $label)',
        '(list "sh" "-c" (printf "pg-backup logical %s || true" $label))',
    )  # fmt: skip
    caught(request, pytester, "test_defi15.py", "--chart", str(chart))


# --- défi 16 ----------------------------------------------------------------------------------------


BOTH_RUNS = "pg-backup logical scheduled && pg-backup base scheduled"
WRONG_DATABASE = (
    "templates/backup-pod.tpl",
    "      - name: PGDATABASE\n        valueFrom:\n          configMapKeyRef:\n"
    "            name: {{ $fullname }}-config\n            key: POSTGRES_DB\n",
    "      - name: PGDATABASE\n        value: postgres\n",
)
# Backups of the wrong database: written and kept as they should (D16.1, D16.3), but restoring one
# brings nothing of the site back, after a dropped table (D16.4) or a lost volume (D16.5). Each
# case keeps one of the two.
WRONG_DATABASE_CASES = {"D16.4": "not volume", "D16.5": "not dropping"}


@pytest.mark.parametrize(
    "kept",
    [
        pytest.param(rid, marks=pytest.mark.breaks(rid), id=f"{rid}-backs-up-another-database")
        for rid in WRONG_DATABASE_CASES
    ],
)
def test_defi16_catches_backups_of_another_database(kept, request, pytester, tmp_path):
    chart = broken_chart(tmp_path, *WRONG_DATABASE)
    caught(request, pytester, "test_defi16.py", "--chart", str(chart), "-k", WRONG_DATABASE_CASES[kept])


@pytest.mark.breaks("D16.1", "D16.2", "D16.3")
def test_defi16_catches_a_cronjob_that_writes_nothing(request, pytester, tmp_path):
    """The CronJob runs `true`: no dump (static: no backup CronJob at all), no backup, no retention. Nothing
    to restore either (the restores, which back up with the CronJob, are deselected)."""
    chart = edited_chart(
        tmp_path,
        [
            ("templates/backup-cronjob.yaml", '{{- $command := list "pg-backup" "logical" "scheduled" -}}',
             '{{- $command := list "true" -}}'),
            ("templates/backup-cronjob.yaml", f'{{{{- $command = list "sh" "-c" "{BOTH_RUNS}" }}}}',
             '{{- $command = list "true" }}'),
        ],
    )  # fmt: skip
    caught(request, pytester, "test_defi16.py", "--chart", str(chart), "-k", "not volume and not dropping")
