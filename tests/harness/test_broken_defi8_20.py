"""Défis 8, 9, 17-20: each conformance module fails on a stack that breaks its requirement.

Each case installs a deliberately broken stage in its own namespace and runs the module in a
subprocess (tests/harness/variants.py): the défi's values with one change, or a copy of the chart
with one template changed. The case lists exactly the tests that must not pass; the others must.
Each case is a full install plus load (5 to 10 minutes on the 2-CPU node): run them one at a time.
"""

from __future__ import annotations

import pytest
from variants import broken_chart, broken_values, not_passed, outcomes


@pytest.fixture(autouse=True)
def shorter_deadlines(monkeypatch):
    # Broken stacks never get where the deadlines wait for; working parts still need time on 2 cores.
    monkeypatch.setenv("KUBEDEFIS_TIMEOUT_SCALE", "0.75")


def test_defi8_catches_a_rollout_that_drops_requests(pytester, tmp_path):
    """maxUnavailable 1 and no preStop sleep: pods stop while Traefik still sends them requests."""
    change = {"django": {"preStopSleepSeconds": 0, "rollingUpdate": {"maxUnavailable": 1}}}
    values = broken_values(tmp_path, "defi8", change)
    results = outcomes(pytester, "test_defi8.py", "--values", str(values), "-k", "not rollback")
    assert not_passed(results) == {"test_rendered_rolling_update_settings", "test_rolling_update_under_load"}, results


def test_defi9_catches_a_stack_without_autoscalers(pytester, tmp_path):
    values = broken_values(tmp_path, "defi9", {"autoscaling": {"enabled": False}})
    results = outcomes(pytester, "test_defi9.py", "--values", str(values))
    assert not_passed(results) == {
        "test_rendered_autoscalers",
        "test_live_autoscalers_read_metrics",
        "test_scale_out_under_load_and_back",
    }, results


def test_defi17_catches_a_site_that_survives(pytester, tmp_path):
    """The défi 17 test on the defended (default) profile: the attack does not bring it down."""
    values = broken_values(tmp_path, "", {"migration": {"sampleSize": "large"}})
    results = outcomes(pytester, "test_defi17.py", "--values", str(values))
    assert not_passed(results) == {
        "test_rendered_naive_profile",
        "test_naive_site_has_the_weaknesses",
        "test_attack_brings_the_naive_site_down",
    }, results


def test_defi18_catches_the_naive_profile(pytester, tmp_path):
    """The défi 18 test on défi 17's naive profile: legitimate users are not served."""
    values = broken_values(tmp_path, "naive", {})
    results = outcomes(pytester, "test_defi18.py", "--values", str(values))
    assert not_passed(results) == {
        "test_rendered_defences",
        "test_limits_answer",
        "test_legitimate_users_served_under_attack",
    }, results


def test_defi19_catches_debug_and_plain_http(pytester, tmp_path):
    change = {"django": {"debug": True, "security": {"httpsRedirect": False, "hstsSeconds": 0}}}
    values = broken_values(tmp_path, "defi19", change)
    results = outcomes(pytester, "test_defi19.py", "--values", str(values), "-k", "not broken_release")
    assert not_passed(results) == {"test_rendered_production_settings", "test_https_redirect_and_headers"}, results


def test_defi19_catches_a_pod_the_restricted_standard_refuses(pytester, tmp_path):
    escalation = "allowPrivilegeEscalation"
    chart = broken_chart(tmp_path, "templates/_helpers.tpl", f"{escalation}: false", f"{escalation}: true")
    results = outcomes(pytester, "test_defi19.py", "--chart", str(chart), "-k", "rendered or restricted")
    assert not_passed(results) == {"test_rendered_production_settings", "test_restricted_namespace_runs_everything"}, (
        results
    )


def test_defi20_catches_a_column_dropped_before_the_rollout(pytester, tmp_path):
    """The contract migration (drop `make`) run by the pre-upgrade hook, while the old pods still use it."""
    chart = broken_chart(
        tmp_path,
        "templates/migrate-job.yaml",
        '(list "migrate_stage" "--phase" "pre")',
        '(list "migrate_stage" "--phase" "post" "--settle-timeout" "0")',
    )
    results = outcomes(pytester, "test_defi20.py", "--chart", str(chart))
    assert not_passed(results) == {"test_rename_under_load"}, results
