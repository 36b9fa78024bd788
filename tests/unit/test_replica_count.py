"""D12.1 and D13.2 live: "every replica" is as many running as the group's replica workload declares, at
least one; never our chart's number (2). A group running one replica on purpose passes; one declaring
three with one running, or declaring none, fails naming the workload."""

from __future__ import annotations

from types import SimpleNamespace

import conformance_modules
import pytest

from kubedefis.harness import stage
from kubedefis.harness.target import Component, Target


def _module(name: str):
    return conformance_modules.load(name, "replica_count")


DEFI12, DEFI13 = _module("test_defi12"), _module("test_defi13")


def pod(name: str, claim: str) -> SimpleNamespace:
    volume = SimpleNamespace(persistent_volume_claim=SimpleNamespace(claim_name=claim))
    return SimpleNamespace(
        metadata=SimpleNamespace(name=name, deletion_timestamp=None),
        spec=SimpleNamespace(volumes=[volume]),
        status=SimpleNamespace(conditions=[SimpleNamespace(type="Ready", status="True")]),
    )


class Replicated:
    primary_selector, replica_selector = "role=maitre", "role=esclave"

    def __init__(self, replicas: int) -> None:
        self._pods = {
            self.primary_selector: [pod("bdd-maitre-0", "donnees-bdd-maitre-0")],
            self.replica_selector: [pod(f"bdd-esclave-{i}", f"donnees-bdd-esclave-{i}") for i in range(replicas)],
        }

    def pods(self, selector: str) -> list[SimpleNamespace]:
        return self._pods[selector]

    def replica_pods(self) -> list[SimpleNamespace]:
        return self.pods(self.replica_selector)


def cluster(declared: int | None) -> SimpleNamespace:
    workload = SimpleNamespace(spec=SimpleNamespace(replicas=declared))
    apps = SimpleNamespace(read_namespaced_stateful_set=lambda name, namespace: workload)
    return SimpleNamespace(kube=SimpleNamespace(apps=apps))


@pytest.fixture
def suite(monkeypatch):
    resolved = stage.Resolved("StatefulSet", "bdd-esclave", "role=esclave", {"role": "esclave"}, ())
    monkeypatch.setattr(stage, "resolve", lambda cluster, namespace, component: resolved)
    components = {"database-replica": Component(selector="role=esclave")}
    return SimpleNamespace(target=Target(components={**Target().components, **components}))


CHECKS = {
    "D12.1": lambda suite, kube, replicated: DEFI12.test_primary_and_replicas_ready_each_on_its_own_claim(
        suite, kube, "u-groupe", replicated
    ),
    "D13.2": lambda suite, kube, replicated: DEFI13.test_primary_and_replicas_ready(
        suite, kube, "u-groupe", replicated
    ),
}


@pytest.mark.parametrize("check", sorted(CHECKS))
@pytest.mark.parametrize(("declared", "running"), [(1, 1), (2, 2), (3, 3), (None, 1)])
def test_the_replicas_the_group_declares_all_running_pass(check, suite, declared, running):
    CHECKS[check](suite, cluster(declared), Replicated(running))


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_fewer_running_than_declared_fails_naming_the_workload(check, suite):
    with pytest.raises(AssertionError, match=r"expected the 3 replicas StatefulSet/bdd-esclave declares running"):
        CHECKS[check](suite, cluster(3), Replicated(1))


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_no_replica_fails(check, suite):
    with pytest.raises(AssertionError, match=r"no replica pod is running|1 replica or more"):
        CHECKS[check](suite, cluster(0), Replicated(0))


def test_declared_replicas_reads_the_live_workload_and_defaults_to_one():
    resolved = stage.Resolved("StatefulSet", "bdd-esclave", "role=esclave", {}, ())
    assert stage.declared_replicas(cluster(4), "u-groupe", resolved) == 4
    assert stage.declared_replicas(cluster(None), "u-groupe", resolved) == 1
