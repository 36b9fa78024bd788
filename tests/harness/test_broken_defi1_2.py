"""Défis 1 and 2: each conformance test fails on a hand-in that breaks its requirement, and only those do."""

from __future__ import annotations

import pytest
from variants import broken_handin, of_kind, outcomes


def two_replicas(docs):
    for d in of_kind(docs, "Deployment"):
        d["spec"]["replicas"] = 2


def no_limits(docs):
    for d in of_kind(docs, "Deployment"):
        for c in d["spec"]["template"]["spec"]["containers"]:
            c["resources"].pop("limits", None)


def wrong_port(docs):
    for s in of_kind(docs, "Service"):
        for p in s["spec"]["ports"]:
            p["targetPort"] = 8080


def serves_nothing(docs):
    for d in of_kind(docs, "Deployment"):
        for c in d["spec"]["template"]["spec"]["containers"]:
            c["command"] = ["sleep", "infinity"]


DEFI2_CASES = {
    "two-replicas": (
        two_replicas,
        {
            "test_handin_declares_three_replicas",
            "test_three_replicas_ready",
            "test_service_is_clusterip_with_ready_endpoints",
        },
    ),
    "no-limits": (no_limits, {"test_handin_declares_requests_and_limits", "test_every_pod_has_requests_and_limits"}),
    "wrong-port": (wrong_port, {"test_handin_service_routes_to_the_pods", "test_page_through_kubectl_proxy"}),
}


@pytest.mark.parametrize("case", DEFI2_CASES)
def test_defi2_catches(case, pytester, tmp_path):
    mutate, must_fail = DEFI2_CASES[case]
    root = broken_handin(tmp_path, "defi2", mutate)
    results = outcomes(pytester, "test_defi2.py", "--handin", str(root))
    failed = {name for name, outcome in results.items() if outcome == "failed"}
    assert failed == must_fail, results


def test_defi1_catches_a_pod_that_serves_nothing(pytester, tmp_path):
    root = broken_handin(tmp_path, "defi1", serves_nothing)
    results = outcomes(pytester, "test_defi1.py", "--handin", str(root))
    failed = {name for name, outcome in results.items() if outcome == "failed"}
    assert failed == {"test_page_served_through_port_forward"}, results
