"""Requirement checks find what breaks a requirement, and nothing on a stack that meets it."""

import copy

import pytest

from kubedefis.core import manifests, paths
from kubedefis.harness import checks

DEFI2 = manifests.load([paths.REPO_ROOT / "defis/defi2"])
REQ = {"cpu": "100m", "memory": "100Mi"}
LIM = {"cpu": "200m", "memory": "200Mi"}


def deployment():
    return copy.deepcopy(manifests.find(DEFI2, "Deployment", "csc8567")[0])


def service():
    return copy.deepcopy(manifests.find(DEFI2, "Service", "csc8567")[0])


def test_our_defi2_handin_meets_every_check():
    assert checks.replicas(deployment(), 3) == []
    assert checks.resources(deployment(), REQ, LIM) == []
    assert checks.service_type(service(), "ClusterIP") == []
    assert checks.service_routes_to(service(), deployment()) == []


def test_two_replicas_is_found():
    broken = deployment()
    broken["spec"]["replicas"] = 2
    [finding] = checks.replicas(broken, 3)
    assert finding.expected == "3 replicas" and finding.found == "2"


def test_missing_limits_are_found():
    broken = deployment()
    del broken["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    found = checks.resources(broken, REQ, LIM)
    assert {f.expected for f in found} == {"limits.cpu = 200m", "limits.memory = 200Mi"}


def test_equivalent_quantities_are_accepted():
    dep = deployment()
    dep["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "0.1", "memory": "100M"},
        "limits": {"cpu": "0.2", "memory": "200M"},
    }
    assert checks.resources(dep, REQ, LIM) == []


def test_wrong_target_port_is_found():
    broken = service()
    broken["spec"]["ports"][0]["targetPort"] = 8080
    [finding] = checks.service_routes_to(broken, deployment())
    assert finding.found == "8080"


def test_selector_that_misses_the_pods_is_found():
    broken = service()
    broken["spec"]["selector"] = {"app": "other"}
    assert checks.service_routes_to(broken, deployment())


def test_nodeport_is_not_clusterip():
    broken = service()
    broken["spec"]["type"] = "NodePort"
    assert checks.service_type(broken, "ClusterIP")


def test_require_lists_expected_and_found():
    with pytest.raises(checks.RequirementFailed) as info:
        checks.require("D2.1", [checks.Finding("Deployment/x", "3 replicas", "2")])
    assert "expected 3 replicas, found 2" in str(info.value)


def test_env_value_follows_envfrom_then_env_through_configmaps():
    from kubedefis.harness.checks import env_value

    configmaps = {"db": {"DB_HOST": "bdd-0.bdd", "PORT": "5433"}, "other": {"DB_HOST": "late"}}
    container = {
        "envFrom": [{"configMapRef": {"name": "db"}}, {"configMapRef": {"name": "db"}, "prefix": "PG_"}],
        "env": [
            {"name": "DB_NAME", "value": "garage"},
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "s", "key": "p"}}},
            {"name": "DB_USER", "valueFrom": {"configMapKeyRef": {"name": "other", "key": "DB_HOST"}}},
        ],
    }
    assert env_value(container, "DB_HOST", configmaps.get) == "bdd-0.bdd"
    assert env_value(container, "PG_PORT", configmaps.get) == "5433"
    assert env_value(container, "DB_NAME", configmaps.get) == "garage"
    assert env_value(container, "DB_USER", configmaps.get) == "late"
    assert env_value(container, "DB_PASSWORD", configmaps.get) is None  # a Secret: not read
    assert env_value(container, "DB_PASSWORD", configmaps.get, {"s": {"p": "secret"}}.get) == "secret"
    assert env_value(container, "MISSING", configmaps.get) is None


def test_names_service_accepts_the_service_and_its_pods_names():
    from kubedefis.harness.checks import names_service

    for host in ("bdd", "bdd.u-7", "bdd.u-7.svc", "bdd.u-7.svc.cluster.local", "bdd-0.bdd", "bdd-0.bdd.u-7.svc."):
        assert names_service(host, "bdd", "u-7"), host
    for host in ("bdd-rw", "bdd.other", "kd-postgresql", "x.y.bdd"):
        assert not names_service(host, "bdd", "u-7"), host
