"""D17.3's attack stops once the naive site has fallen (a pod restarted or gone): the attacker's progress
is then its report. Before, the attack always ran its 90 s while the other lanes waited (`alone`)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from kubedefis.harness import load

LOG = (
    '10s {"lists": {"200": 3}, "bodies": {"reset": 2}}\n'
    '20s {"lists": {"200": 5, "timeout": 1}, "bodies": {"reset": 4}}\n'
)


class FakeCore:
    """The attack pod: Running with `log`, until `phase` changes."""

    def __init__(self, log: str, phase: str = "Running") -> None:
        self.log, self.phase, self.reads = log, phase, 0

    def read_namespaced_pod(self, name: str, namespace: str) -> Any:
        self.reads += 1
        return SimpleNamespace(status=SimpleNamespace(phase=self.phase))

    def read_namespaced_pod_log(self, name: str, namespace: str) -> str:
        return self.log


def cluster_with(core: FakeCore) -> Any:
    return SimpleNamespace(kube=SimpleNamespace(core=core))


ATTACK = load.InClusterAttack("ns", "attacker", "image", (), 60)


def test_the_last_progress_line_is_the_report_so_far() -> None:
    report = load.parse_attack_progress(LOG)
    assert report == {
        "seconds": 20,
        "attacks": {"lists": {"outcomes": {"200": 5, "timeout": 1}}, "bodies": {"outcomes": {"reset": 4}}},
        "stopped_early": True,
    }
    assert load.parse_attack_progress("starting\n") is None


def test_the_wait_ends_when_the_site_fell_and_the_attacker_reported() -> None:
    core = FakeCore(LOG)
    report = load.attack_report(cluster_with(core), ATTACK, timeout=5, stop_when=lambda: True)
    assert report["stopped_early"] and report["seconds"] == 20


def test_a_fall_before_the_first_progress_waits_for_it() -> None:
    core = FakeCore("starting\n")
    calls = []

    def fell() -> bool:
        calls.append(1)
        if len(calls) == 2:  # the attacker's first progress line arrives
            core.log = LOG
        return True

    report = load.attack_report(cluster_with(core), ATTACK, timeout=10, stop_when=fell)
    assert report["seconds"] == 20 and len(calls) == 2


def test_without_a_fall_the_attack_runs_to_its_end() -> None:
    core = FakeCore(LOG + 'ATTACK-REPORT {"seconds": 90.1, "attacks": {}}\n', phase="Succeeded")
    report = load.attack_report(cluster_with(core), ATTACK, timeout=5, stop_when=lambda: False)
    assert report == {"seconds": 90.1, "attacks": {}}


def test_what_the_pods_suffered() -> None:
    health = load.PodHealth
    before = {"api-1/api": health("api-1", 0, None), "web-1/web": health("web-1", 2, "Error")}
    after = {"api-1/api": health("api-1", 1, "OOMKilled"), "web-2/web": health("web-2", 0, None)}
    assert load.suffered(before, after) == ({"api-1/api": 1}, ["api-1/api"], ["web-1"])
    assert load.suffered(before, before) == ({}, [], [])
