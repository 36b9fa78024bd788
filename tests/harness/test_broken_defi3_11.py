"""Défis 3–7, 10, 11: each conformance module fails on a stack that breaks its requirement, and only there."""

from __future__ import annotations

import pytest
from variants import broken_chart, broken_handin, broken_values, failed, of_kind, outcomes


def two_database_pods(docs):
    for d in of_kind(docs, "Deployment"):
        if d["metadata"]["name"] == "postgresql":
            d["spec"]["replicas"] = 2


def ingress_for_another_host(docs):
    for ing in of_kind(docs, "Ingress"):
        for rule in ing["spec"]["rules"]:
            rule["host"] = "autre.example.org"


def api_with_two_replicas(docs):
    for d in of_kind(docs, "Deployment"):
        if d["metadata"]["name"] == "api":
            d["spec"]["replicas"] = 2


HANDIN_CASES = {
    "defi3-two-database-pods": (
        "defi3",
        "test_defi3.py",
        two_database_pods,
        {"test_database_is_one_pod_deployment_behind_clusterip"},
    ),
    "defi5-api-two-replicas": (
        "defi5",
        "test_defi5.py",
        api_with_two_replicas,
        {"test_three_ready_replicas_with_resources"},
    ),
}

CHART_CASES = {
    "defi7-database-as-deployment": (
        "defi7",
        "test_defi7.py",
        {"database": {"kind": "Deployment"}},
        {
            "test_database_is_a_one_replica_statefulset",
            "test_database_volume_is_a_bound_100mi_claim",
            "test_headless_service_resolves_pod_name",
            "test_rows_survive_database_pod_deletion",
        },
    ),
    "defi10-no-probes": (
        "defi10",
        "test_defi10.py",
        {"probes": {"enabled": False}},
        {
            "test_rendered_containers_have_fitting_probes",
            "test_live_containers_have_fitting_probes",
            "test_hung_site_is_restarted",
        },
    ),
    "defi11-no-policy": (
        "defi11",
        "test_defi11.py",
        {"networkPolicy": {"enabled": False}},
        {"test_rendered_policy_admits_only_api_and_public", "test_other_pods_are_blocked"},
    ),
}


@pytest.mark.parametrize("case", HANDIN_CASES)
def test_handin_variant_is_caught(case, pytester, tmp_path):
    defi, module, mutate, must_fail = HANDIN_CASES[case]
    root = broken_handin(tmp_path, defi, mutate)
    results = outcomes(pytester, module, "--handin", str(root))
    assert failed(results) == must_fail, results


@pytest.mark.parametrize("case", CHART_CASES)
def test_chart_variant_is_caught(case, pytester, tmp_path):
    preset, module, override, must_fail = CHART_CASES[case]
    values = broken_values(tmp_path, preset, override)
    results = outcomes(pytester, module, "--values", str(values))
    assert failed(results) == must_fail, results


def test_defi4_catches_an_ingress_for_another_host(pytester, tmp_path):
    root = broken_handin(tmp_path, "defi4", ingress_for_another_host)
    results = outcomes(pytester, "test_defi4.py", "--handin", str(root))
    assert failed(results) == {
        "test_handin_ingress_routes_host_to_site_service",
        "test_site_answers_through_ingress",
        "test_other_host_is_not_routed",
    }, results


def test_defi6_catches_pods_that_do_not_roll_on_a_config_change(pytester, tmp_path):
    # The classic slip: no checksum annotations, so `helm upgrade` changes the ConfigMap and
    # the running pods keep the old environment.
    chart = broken_chart(
        tmp_path, "templates/_django.tpl", '{{- include "kubedefis.checksums" $ctx | nindent 8 }}', "{}"
    )
    results = outcomes(pytester, "test_defi6.py", "--chart", str(chart))
    assert failed(results) == {"test_upgrade_with_changed_value_rolls_pods"}, results
