"""Défis 12-16: each conformance module fails on a stack that breaks its requirement, and only there.

Each case installs a deliberately broken stage in its own namespace and runs the module in a
subprocess: a hand-in with a mutation (défi 12), the preset with one value changed (défis 13,
14), or a copy of the chart with one template changed (défis 15, 16: what no value can
break). The case lists exactly the tests that must fail; the others must pass. The slowest
disruptive tests that a case does not concern are deselected (-k) to keep the run affordable.
"""

from __future__ import annotations

import pytest
from variants import broken_chart, broken_handin, broken_values, failed, of_kind, outcomes


@pytest.fixture(autouse=True)
def shorter_deadlines(monkeypatch):
    # Broken stacks never get where the deadlines wait for; working parts still need time on 2 cores.
    monkeypatch.setenv("KUBEDEFIS_TIMEOUT_SCALE", "0.75")


def replicas_are_primaries(docs: list[dict]) -> None:
    """Défi 12 broken: the replica StatefulSet starts independent primaries (nothing streams)."""
    for sts in of_kind(docs, "StatefulSet"):
        if sts["metadata"]["name"] == "pg-replica":
            for container in sts["spec"]["template"]["spec"]["containers"]:
                for env in container["env"]:
                    if env["name"] == "POSTGRES_ROLE":
                        env["value"] = "primary"


def test_defi12_catches_replicas_that_do_not_stream(pytester, tmp_path):
    root = broken_handin(tmp_path, "defi12", replicas_are_primaries)
    results = outcomes(pytester, "test_defi12.py", "--handin", str(root))
    assert failed(results) == {
        "test_every_replica_streams",
        "test_row_reaches_every_replica_within_2s",
        "test_replicas_refuse_writes",
        "test_replica_rebuilt_after_losing_its_volume",
    }, results
    assert results["test_primary_and_replicas_ready_each_on_its_own_claim"] == "passed", results


def test_defi13_catches_a_site_that_never_reads_from_replicas(pytester, tmp_path):
    values = broken_values(tmp_path, "defi13", {"replication": {"readsToReplicas": False}})
    results = outcomes(pytester, "test_defi13.py", "--values", str(values), "-k", "not failover and not rebuilt")
    assert failed(results) == {"test_rendered_site_settings", "test_site_reads_from_replicas"}, results


def test_defi14_catches_a_cache_without_eviction(pytester, tmp_path):
    values = broken_values(tmp_path, "defi14", {"cache": {"maxmemoryPolicy": "noeviction"}})
    results = outcomes(pytester, "test_defi14.py", "--values", str(values), "-k", "not measure")
    assert failed(results) == {"test_rendered_redis", "test_redis_password_and_eviction"}, results


def test_defi15_catches_a_backup_taken_after_the_upgrade(pytester, tmp_path):
    chart = broken_chart(
        tmp_path,
        "templates/hook-backup-job.yaml",
        '"events" "pre-upgrade" "weight" 0',
        '"events" "post-upgrade" "weight" 0',
    )
    results = outcomes(pytester, "test_defi15.py", "--chart", str(chart))
    assert failed(results) == {
        "test_rendered_hook_events",
        "test_upgrade_backs_up_before_and_verifies_after",
        "test_failed_backup_stops_upgrade",
    }, results


def test_defi16_catches_a_cronjob_that_writes_nothing(pytester, tmp_path):
    chart = broken_chart(
        tmp_path,
        "templates/backup-cronjob.yaml",
        '{{- $command := list "pg-backup" "logical" "scheduled" -}}',
        '{{- $command := list "true" -}}',
    )
    results = outcomes(pytester, "test_defi16.py", "--chart", str(chart), "-k", "not volume")
    assert failed(results) == {
        "test_rendered_cronjob",
        "test_cronjob_run_writes_a_backup",
        "test_retention_keeps_the_last_n",
    }, results
