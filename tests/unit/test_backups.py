"""kubedefis.harness.backups: backups read on a group's own volume, Jobs made from a group's own templates."""

from __future__ import annotations

import datetime
import gzip
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from kubedefis.core.errors import KubedefisError
from kubedefis.harness import backups
from kubedefis.harness import target as targets

UTC = datetime.UTC
T0 = datetime.datetime(2026, 12, 3, 7, 0, 0, tzinfo=UTC)


def at(seconds: int) -> int:
    return int(T0.timestamp()) + seconds


def test_parse_listing_reads_the_files_and_ignores_other_lines():
    text = (
        "--- logs kd-backup-listing-1/backup:\n"
        f"KDDUMP {at(3)} 2048 custom 1 /backups/logical/2026-pre-upgrade-r2.dump\n"
        f"KDDUMP {at(3)} 64 other 1 /backups/logical/2026 with spaces.info\n"
        "KDDUMP not-a-time 1 custom 1 /x\n"
        "find: '/nowhere': No such file or directory\n"
    )
    files = backups.parse_listing(text)
    assert [f.path for f in files] == [
        "/backups/logical/2026-pre-upgrade-r2.dump",
        "/backups/logical/2026 with spaces.info",
    ]
    assert files[0] == backups.DumpFile("/backups/logical/2026-pre-upgrade-r2.dump", at(3), 2048, "custom", True)


@pytest.mark.parametrize(
    ("fmt", "size", "logical"),
    [
        ("custom", 10, True),
        ("tar", 10, True),
        ("plain", 10, True),
        ("gz-plain", 10, True),
        ("gz-archive", 10, False),  # pg_basebackup's tar.gz: no logical dump
        ("other", 10, False),
        ("plain", 0, False),  # an empty file is no backup
    ],
)
def test_logical_dumps(fmt, size, logical):
    assert backups.DumpFile("/b/x", at(0), size, fmt, True).logical is logical


def test_site_dumps_keeps_the_site_s_logical_dumps_oldest_first():
    files = [
        backups.DumpFile("/b/new.dump", at(20), 9, "custom", True),
        backups.DumpFile("/b/other-db.dump", at(15), 9, "custom", False),
        backups.DumpFile("/b/old.sql.gz", at(10), 9, "gz-plain", True),
        backups.DumpFile("/b/new.info", at(20), 9, "other", True),
    ]
    assert [f.path for f in backups.site_dumps(files)] == ["/b/old.sql.gz", "/b/new.dump"]


def test_written_between_a_job_s_start_and_completion_with_slack():
    files = [backups.DumpFile(f"/b/{s}", at(s), 1, "custom", True) for s in (-3, -2, 5, 12, 13)]
    found = backups.written_between(files, T0, T0 + datetime.timedelta(seconds=10))
    assert [f.path for f in found] == ["/b/-2", "/b/5", "/b/12"]


def test_parse_time_of_dicts_and_models():
    assert backups.parse_time("2026-12-03T07:00:00Z") == T0
    assert backups.parse_time(T0.replace(tzinfo=None)) == T0
    assert backups.parse_time(None) is None


def job(name: str, **spec):
    return {
        "kind": "Job",
        "metadata": {"name": name, "uid": f"uid-{name}"},
        "spec": {
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "abc"}},
            "manualSelector": False,
            "backoffLimit": 2,
            "template": {
                "metadata": {
                    "labels": {
                        "app": "garage",
                        "controller-uid": "abc",
                        "batch.kubernetes.io/controller-uid": "abc",
                        "job-name": name,
                        "batch.kubernetes.io/job-name": name,
                    }
                },
                "spec": {
                    "restartPolicy": "OnFailure",
                    "initContainers": [{"name": "wait", "image": "busybox"}],
                    "containers": [
                        {"name": "sidecar", "image": "x"},
                        {
                            "name": "dump",
                            "image": "postgres:16",
                            "command": ["sh", "-c"],
                            "args": ["pg_dump > /save/x.sql"],
                            "volumeMounts": [
                                {"name": "store", "mountPath": "/save"},
                                {"name": "cfg", "mountPath": "/c"},
                            ],
                        },
                    ],
                    "volumes": [
                        {"name": "store", "persistentVolumeClaim": {"claimName": "sauvegardes"}},
                        {"name": "cfg", "configMap": {"name": "c"}},
                    ],
                },
            },
            **spec,
        },
        "status": {"succeeded": 1},
    }


def test_job_spec_of_a_job_drops_what_its_controller_added():
    spec = backups.job_spec(job("backup-hook"))
    assert "selector" not in spec and "manualSelector" not in spec
    assert spec["template"]["metadata"]["labels"] == {"app": "garage"}


def test_job_spec_of_a_cronjob_is_its_job_template():
    cronjob = {"kind": "CronJob", "metadata": {"name": "dump"}, "spec": {"jobTemplate": {"spec": job("x")["spec"]}}}
    assert backups.job_spec(cronjob)["template"]["spec"]["containers"][1]["name"] == "dump"


def test_with_command_runs_the_container_on_the_claim_alone_once():
    spec = backups.with_command(backups.job_spec(job("b")), ["sh", "-c", "ls"])
    pod = spec["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["dump"]
    assert pod["containers"][0]["command"] == ["sh", "-c", "ls"] and "args" not in pod["containers"][0]
    assert "initContainers" not in pod and pod["restartPolicy"] == "Never" and spec["backoffLimit"] == 0


def test_with_command_needs_a_container_on_the_claim():
    with pytest.raises(KubedefisError, match="no container"):
        backups.with_command(backups.job_spec(job("b")), ["true"], claims={"another-claim"})


def test_claim_container_says_where_the_claims_are_mounted():
    assert backups.claim_container(job("b")["spec"]["template"]["spec"]) == (1, ["/save"])


def test_job_object_from_a_cronjob_is_what_kubectl_create_job_from_makes():
    cronjob = {"metadata": {"name": "dump", "uid": "u1"}}
    made = backups.job_object("dump-manual-" + "x" * 80, backups.job_spec(job("b")), owner=cronjob)
    meta = made["metadata"]
    assert len(meta["name"]) <= 63 and meta["annotations"] == {"cronjob.kubernetes.io/instantiate": "manual"}
    assert meta["ownerReferences"][0]["uid"] == "u1" and meta["labels"] == {"app": "garage"}
    assert made["spec"]["ttlSecondsAfterFinished"] == 3600


def test_job_succeeded_by_count_or_condition():
    assert backups.job_succeeded({"status": {"succeeded": 1}})
    assert backups.job_succeeded({"status": {"conditions": [{"type": "Complete", "status": "True"}]}})
    assert not backups.job_succeeded({"status": {"failed": 1}})


def written(kind: str, name: str, manager: str, seconds: int, **meta) -> dict:
    stamp = (T0 + datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "kind": kind,
        "metadata": {"name": name, "managedFields": [{"manager": manager, "time": stamp}], **meta},
    }


def test_helm_writes_since_leaves_out_hooks_release_records_other_writers_and_older_writes():
    objects = [
        written("Job", "site-migrate-2", "helm", 30),
        written("Job", "site-backup", "helm", 5, annotations={"helm.sh/hook": "pre-upgrade"}),
        {**written("Secret", "sh.helm.release.v1.site.v2", "helm", 1, labels={"owner": "helm"})},
        written("ConfigMap", "site-release", "Python-urllib", 10),
        written("Deployment", "site-api", "helm", -60),
        written("ConfigMap", "site-config", "helm", 31),
    ]
    assert backups.helm_writes_since(objects, T0) == [
        (T0 + datetime.timedelta(seconds=30), "Job/site-migrate-2"),
        (T0 + datetime.timedelta(seconds=31), "ConfigMap/site-config"),
    ]


def test_hook_events():
    hook = {"metadata": {"annotations": {"helm.sh/hook": "pre-install, pre-upgrade"}}}
    assert backups.is_hook(hook) and backups.hook_events(hook) == {"pre-install", "pre-upgrade"}
    assert not backups.is_hook({"metadata": {}})


@pytest.mark.skipif(not all(shutil.which(t) for t in ("sh", "gzip", "od", "stat")), reason="needs sh, gzip, od, stat")
def test_listing_script_tells_dumps_from_other_files(tmp_path: Path):
    d = tmp_path / "save"
    (d / "nested").mkdir(parents=True)
    (d / "site.dump").write_bytes(b"PGDMP\x01\x0e\x00\x04 CREATE TABLE public.django_migrations")
    (d / "other.dump").write_bytes(b"PGDMP\x01\x0e\x00\x04 CREATE TABLE public.pets")
    plain = b"--\n-- PostgreSQL database dump\n--\nCREATE TABLE public.django_migrations (id integer);\n"
    (d / "nested" / "site.sql").write_bytes(plain)
    (d / "site.sql.gz").write_bytes(gzip.compress(plain))
    (d / "all.sql").write_bytes(b"--\n-- PostgreSQL database cluster dump\n--\n\\connect site\n")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        toc = b"PGDMP toc django_migrations"
        info = tarfile.TarInfo("toc.dat")
        info.size = len(toc)
        tar.addfile(info, io.BytesIO(toc))
    (d / "site.tar").write_bytes(buffer.getvalue())
    (d / "base.tar.gz").write_bytes(gzip.compress(buffer.getvalue().replace(b"PGDMP", b"PGDATA")))
    (d / "site.info").write_text("rows.public.django_migrations=12\n")
    (d / "empty.sql").write_bytes(b"")
    done = subprocess.run(
        ["sh", "-c", backups.LISTING_SCRIPT, "sh", backups.SITE_MARKER, str(d)],
        capture_output=True,
        text=True,
        check=True,
    )
    found = {
        Path(f.path).relative_to(d).as_posix(): (f.format, f.site, f.logical)
        for f in backups.parse_listing(done.stdout)
    }
    assert found == {
        "site.dump": ("custom", True, True),
        "other.dump": ("custom", False, True),
        "nested/site.sql": ("plain", True, True),
        "site.sql.gz": ("gz-plain", True, True),
        "all.sql": ("plain", False, True),
        "site.tar": ("tar", True, True),
        "base.tar.gz": ("gz-archive", True, False),
        "site.info": ("other", True, False),
        "empty.sql": ("other", False, False),
    }


def test_target_backup_restore_defaults_to_ours_and_must_name_the_file(tmp_path: Path):
    assert targets.Target().backup_restore is None and "{file}" in targets.BACKUP_RESTORE
    good = tmp_path / "good.yaml"
    good.write_text("backup_restore: 'gunzip -c {file} | psql -v ON_ERROR_STOP=1'\n")
    assert targets.load(good).backup_restore == "gunzip -c {file} | psql -v ON_ERROR_STOP=1"
    for bad in ("'psql < /backups/latest.sql'", "[pg_restore, '{file}']"):
        path = tmp_path / "bad.yaml"
        path.write_text(f"backup_restore: {bad}\n")
        with pytest.raises(KubedefisError, match="backup_restore"):
            targets.load(path)


class FakeBatch:
    """list_namespaced_job of a fake API server: the Jobs that exist now."""

    def __init__(self, jobs):
        self.jobs = jobs

    def list_namespaced_job(self, namespace, **kwargs):
        from kubernetes import client

        return client.V1JobList(items=list(self.jobs), metadata=client.V1ListMeta(resource_version="10"))


class FakeKube:
    def __init__(self, jobs):
        self.batch = FakeBatch(jobs)


def v1job(name: str, version: str, succeeded: int | None = None, hook: str | None = None):
    from kubernetes import client

    annotations = {"helm.sh/hook": hook} if hook else None
    return client.V1Job(
        metadata=client.V1ObjectMeta(
            name=name, uid=f"uid-{name}", resource_version=version, annotations=annotations,
            creation_timestamp=T0 + datetime.timedelta(seconds=int(version)),
        ),
        status=client.V1JobStatus(succeeded=succeeded),
    )  # fmt: skip


def test_job_recorder_sees_a_hook_deleted_once_it_succeeded(monkeypatch):
    """Helm's hook-succeeded policy deletes the Job: the recorder keeps its last state (succeeded)."""
    import threading
    import time as clock

    existing = v1job("site-migrate-1", "5", succeeded=1)
    events = [
        {"type": "ADDED", "object": v1job("site-backup", "11", hook="pre-upgrade")},
        {"type": "MODIFIED", "object": v1job("site-backup", "12", succeeded=1, hook="pre-upgrade")},
        {"type": "DELETED", "object": v1job("site-backup", "13", succeeded=1, hook="pre-upgrade")},
    ]
    delivered = threading.Event()

    class FakeWatch:
        def stream(self, func, namespace, **kwargs):
            while events:
                yield events.pop(0)
            delivered.set()
            clock.sleep(0.05)

        def stop(self):
            pass

    monkeypatch.setattr(backups.watch, "Watch", FakeWatch)
    kube = FakeKube([existing])
    with backups.JobRecorder(kube, "ns") as seen:  # type: ignore[arg-type]
        assert delivered.wait(5)
    started = seen.started()
    assert [j["metadata"]["name"] for j in started] == ["site-backup"]
    assert backups.job_succeeded(started[0]) and backups.hook_events(started[0]) == {"pre-upgrade"}


def test_unique_names_are_valid_object_names():
    name = backups.unique("kd-refusal-Job/Kd_Hook.Verify" + "x" * 60)
    assert len(name) <= 47 and name.startswith("kd-refusal-job-kd-hook-verify")
    assert all(c.isdigit() or c.islower() or c == "-" for c in name)
