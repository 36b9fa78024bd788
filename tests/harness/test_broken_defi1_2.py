"""Défis 1 and 2: each conformance test fails on a hand-in that breaks its requirement, and only those do.

The static checks also have their own variants, without a cluster: test_static_variants_1_11.py. The
variants that declare what they break (`breaks`) must fail exactly those requirement ids
(tests/harness/requirements.py).
"""

from __future__ import annotations

import pytest
from requirements import caught
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


def never_ready(docs):
    """A readiness probe copied from a tutorial whose app listens on 8080: the page is served on 5000."""
    for d in of_kind(docs, "Deployment"):
        for c in d["spec"]["template"]["spec"]["containers"]:
            c["readinessProbe"] = {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 2}


def on_another_port(docs):
    """The page on 8080 (the image's PORT), declared so in the pod spec: nothing assumes 5000."""
    for d in of_kind(docs, "Deployment"):
        for c in d["spec"]["template"]["spec"]["containers"]:
            c["env"] = [{"name": "PORT", "value": "8080"}]
            c["ports"] = [{"containerPort": 8080}]


def named_service_port(docs):
    """The Service's port given a name: kubectl proxy's URL without a port name no longer reaches it."""
    for s in of_kind(docs, "Service"):
        for p in s["spec"]["ports"]:
            p["name"] = "http"


@pytest.mark.breaks("D2.4")
def test_defi2_catches_a_service_the_proxy_url_does_not_reach(request, pytester, tmp_path):
    """A named Service port: the Service is a ClusterIP selecting the 3 ready pods and targeting their port
    (D2.3, static and live), but the API server's proxy finds no unnamed port behind .../services/NAME/proxy/
    (a named one needs NAME:http)."""
    root = broken_handin(tmp_path, "defi2", named_service_port)
    caught(request, pytester, "test_defi2.py", "--handin", str(root))


@pytest.mark.breaks("D1.2")
def test_defi1_catches_a_pod_that_is_never_ready(request, pytester, tmp_path):
    """The readiness probe asks a port nothing listens on: the pod runs and the page still answers through a
    port-forward to the pod (kubectl does not ask for readiness), but no pod of the Deployment is ready."""
    root = broken_handin(tmp_path, "defi1", never_ready)
    caught(request, pytester, "test_defi1.py", "--handin", str(root))


def test_defi1_reads_the_port_from_the_pod_spec(pytester, tmp_path):
    root = broken_handin(tmp_path, "defi1", on_another_port)
    results = outcomes(pytester, "test_defi1.py", "--handin", str(root))
    assert set(results.values()) == {"passed"}, results


@pytest.mark.breaks("D1.3")
def test_defi1_catches_a_pod_that_serves_nothing(request, pytester, tmp_path):
    """`command: [sleep, infinity]` left from a debugging session (to `kubectl exec` into the pod): the pod runs
    and is ready (no probe), nothing serves the page."""
    root = broken_handin(tmp_path, "defi1", serves_nothing)
    caught(request, pytester, "test_defi1.py", "--handin", str(root))
