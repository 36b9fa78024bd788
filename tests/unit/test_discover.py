"""kubedefis.harness.discover: components, Services and settings found by what they are."""

from __future__ import annotations

import base64

from kubedefis.harness import discover
from kubedefis.harness.target import Component, Target


def sts(name, labels, replicas=1):
    return {
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "template": {"metadata": {"labels": labels}}},
    }


def svc(name, selector, headless=False):
    spec = {"selector": selector, **({"clusterIP": "None"} if headless else {})}
    return {"kind": "Service", "metadata": {"name": name}, "spec": spec}


def test_workloads_are_found_by_the_targets_selector_not_their_name():
    target = Target(components={"database": Component(selector="tier=db")})
    objects = [sts("anything", {"tier": "db"}), sts("postgresql", {"tier": "web"})]
    assert [o["metadata"]["name"] for o in discover.workloads(objects, target, "database")] == ["anything"]
    assert discover.component_findings(objects, target, "database") == []
    assert discover.component_findings([], target, "database")[0].found == "none"


def test_write_and_read_services_by_what_they_select():
    primary, replica = sts("p", {"app": "pg", "role": "primary"}), sts("r", {"app": "pg", "role": "replica"}, 2)
    objects = [
        primary,
        replica,
        svc("rw", {"role": "primary"}),
        svc("ro", {"role": "replica"}),
        svc("all", {"app": "pg"}),
        svc("one-replica", {"statefulset.kubernetes.io/pod-name": "r-1"}),
    ]
    split = discover.write_read_services(objects, primary, replica)
    assert [s["metadata"]["name"] for s in split.write] == ["rw"]
    assert [s["metadata"]["name"] for s in split.read] == ["ro"]  # not "all", nor one selecting one replica


def test_environment_resolved_through_configmaps_and_secrets():
    objects = [
        {"kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"DB_HOST": "garage-db", "X": "1"}},
        {
            "kind": "Secret",
            "metadata": {"name": "sec"},
            "data": {"URL": base64.b64encode(b"redis://:pw@cache:6379/0").decode()},
        },
    ]
    container = {
        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "APP_"}],
        "env": [
            {"name": "CACHE", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "URL"}}},
            {"name": "APP_X", "value": "2"},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
    }
    env = discover.env_of(objects, container)
    assert env["APP_DB_HOST"] == discover.EnvValue("garage-db", "configmap")
    assert env["APP_X"] == discover.EnvValue("2", "literal")  # env wins over envFrom
    assert env["CACHE"] == discover.EnvValue("redis://:pw@cache:6379/0", "secret")
    assert env["POD"].source == "field"
    assert set(discover.pointing_at(objects, container, "cache")) == {"CACHE"}


def test_a_host_is_a_whole_name():
    assert discover.mentions_host("redis://:pw@kd-redis:6379/0", "kd-redis")
    assert discover.mentions_host("kd-postgresql-rw.ns.svc.cluster.local", "kd-postgresql-rw")
    assert discover.mentions_host("kd-postgresql-ro", "kd-postgresql-ro")
    assert not discover.mentions_host("kd-postgresql-rw", "kd-postgresql")
    assert not discover.mentions_host("my-kd-redis", "kd-redis")
    assert not discover.mentions_host(None, "x")
