"""D20.1 on a group's chart: Helm's hook annotation is a list, and the stage variable is our site's."""

from __future__ import annotations

import importlib.util
from pathlib import Path

MODULE = Path(__file__).resolve().parents[2] / "conformance" / "test_defi20.py"
_spec = importlib.util.spec_from_file_location("grading_defi20", MODULE)
assert _spec and _spec.loader
defi20 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(defi20)


def job(name: str, hook: str | None, env: dict[str, str]) -> dict:
    meta: dict = {"name": name}
    if hook is not None:
        meta["annotations"] = {"helm.sh/hook": hook}
    container = {
        "name": "migrate",
        "image": "site:1",
        "command": ["python", "manage.py", "migrate"],
        "env": [{"name": k, "value": v} for k, v in env.items()],
    }
    return {"kind": "Job", "metadata": meta, "spec": {"template": {"spec": {"containers": [container]}}}}


LOCK = {"MIGRATION_LOCK_TIMEOUT": "2s"}


def test_hook_events_read_helms_comma_separated_list():
    assert defi20.hook_events(job("j", "pre-install, pre-upgrade", {})) == {"pre-install", "pre-upgrade"}
    assert defi20.hook_events(job("j", None, {})) == set()


def test_a_group_chart_whose_expand_hook_also_runs_at_install_passes():
    objects = [job("expand", "pre-install,pre-upgrade", LOCK), job("contract", "post-upgrade", LOCK)]
    assert defi20.migration_hook_findings(objects, "the upgrade", None) == []


def test_given_values_carry_no_stage_of_ours():
    # no *SCHEMA_STAGE variable (our site's rename): graded on hooks and lock timeout only
    objects = [job("expand", "pre-upgrade", LOCK), job("contract", "post-upgrade", LOCK)]
    assert defi20.migration_hook_findings(objects, "the upgrade", None) == []
    # our presets choose the stage: then each Job must be at it, as before
    assert defi20.migration_hook_findings(objects, "expand upgrade", "expand")
    staged = [
        job(n, h, {**LOCK, "DJANGO_SCHEMA_STAGE": "expand"}) for n, h in (("a", "pre-upgrade"), ("b", "post-upgrade"))
    ]
    assert defi20.migration_hook_findings(staged, "expand upgrade", "expand") == []


def test_still_failed_without_a_post_upgrade_hook_a_plain_job_or_a_lock_timeout():
    pre_only = [job("expand", "pre-install,pre-upgrade", LOCK)]
    assert [f.expected for f in defi20.migration_hook_findings(pre_only, "u", None)] == [
        "migration Jobs as pre- and post-upgrade hooks"
    ]
    plain = [job("expand", "pre-upgrade", LOCK), job("contract", "post-upgrade", LOCK), job("migrate", None, LOCK)]
    assert defi20.migration_hook_findings(plain, "u", None)
    no_lock = [job("expand", "pre-upgrade", {}), job("contract", "post-upgrade", LOCK)]
    assert [f.expected for f in defi20.migration_hook_findings(no_lock, "u", None)] == ["a lock timeout"]
    assert defi20.migration_hook_findings([], "u", None)
