"""D12.7/D13.10's rebuild: a replica's pod and claim deleted, the StatefulSet remakes them. Two races of
Kubernetes leave the new pod Pending for good (kubernetes/kubernetes#74374, #89910); `rebuild` remakes
such a pod once, and never a pod that is only waiting on a slow provisioner more than once per claim."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from kubedefis.core.waits import WaitTimeout
from kubedefis.stack import database


def claim(uid: str, phase: str, deleting: bool = False) -> SimpleNamespace:
    return SimpleNamespace(
        metadata=SimpleNamespace(uid=uid, deletion_timestamp="now" if deleting else None, annotations={}),
        status=SimpleNamespace(phase=phase),
    )


def pod(uid: str, phase: str, ready: bool, node: str | None = "node-1") -> SimpleNamespace:
    volume = SimpleNamespace(persistent_volume_claim=SimpleNamespace(claim_name="data-pg-replica-1"))
    return SimpleNamespace(
        metadata=SimpleNamespace(uid=uid, deletion_timestamp=None),
        spec=SimpleNamespace(volumes=[volume], node_name=node),
        status=SimpleNamespace(phase=phase, conditions=[SimpleNamespace(type="Ready", status=str(ready))]),
    )


class Cluster:
    """A namespace whose pod and claim follow a script: each remake of the pod moves to the next step."""

    def __init__(self, steps: list[tuple[SimpleNamespace, SimpleNamespace]]) -> None:
        self.steps = steps
        self.step = 0
        self.pod_deletes = 0
        self.core = self

    def read_namespaced_pod(self, name, namespace):
        return self.steps[self.step][0]

    def read_namespaced_persistent_volume_claim(self, name, namespace):
        return self.steps[self.step][1]

    def delete_namespaced_persistent_volume_claim(self, name, namespace):
        pass

    def delete_namespaced_pod(self, name, namespace, grace_period_seconds=None):
        self.pod_deletes += 1
        self.step = min(self.step + 1, len(self.steps) - 1)


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setattr(database, "UNBOUND_GRACE", 0.0)
    monkeypatch.setattr(database.kube, "evidence", lambda *a, **k: "")
    monkeypatch.setattr(database.kube, "pod_logs", lambda *a, **k: "")
    # a clock that moves 5 s at each reading, and no real sleeping (both are the time module's, shared
    # by waits.wait_for and rebuild: restored after the test)
    monkeypatch.setattr(database.time, "monotonic", iter(range(0, 10**6, 5)).__next__)
    monkeypatch.setattr(database.time, "sleep", lambda seconds: None)


def test_a_new_pod_scheduled_before_its_new_claim_existed_is_remade_once():
    k = Cluster(
        [
            (pod("old", "Running", True), claim("c-old", "Bound")),
            (pod("new-1", "Pending", False), claim("c-new", "Pending")),  # never provisioned
            (pod("new-2", "Running", True), claim("c-new", "Bound")),
        ]
    )
    rebuilt = database.rebuild(k, "ns", "pg-replica-1", timeout=60)
    assert rebuilt.metadata.uid == "new-2"
    assert k.pod_deletes == 2  # the old pod, then the stuck one once


def test_a_new_pod_on_the_old_terminating_claim_is_remade():
    k = Cluster(
        [
            (pod("old", "Running", True), claim("c-old", "Bound")),
            (pod("new-1", "Pending", False), claim("c-old", "Bound", deleting=True)),
            (pod("new-2", "Running", True), claim("c-new", "Bound")),
        ]
    )
    assert database.rebuild(k, "ns", "pg-replica-1", timeout=60).metadata.uid == "new-2"
    assert k.pod_deletes == 2


def test_a_claim_that_stays_pending_is_not_nudged_at_every_poll_and_times_out():
    k = Cluster(
        [
            (pod("old", "Running", True), claim("c-old", "Bound")),
            (pod("new-1", "Pending", False), claim("c-new", "Pending")),
            (pod("new-2", "Pending", False), claim("c-new", "Pending")),  # the same claim, still not provisioned
        ]
    )
    with pytest.raises(WaitTimeout, match="Pending"):
        database.rebuild(k, "ns", "pg-replica-1", timeout=30)
    assert k.pod_deletes == 2  # once for the claim c-new, not once per poll


def test_a_pending_pod_not_yet_scheduled_is_left_to_the_scheduler():
    k = Cluster(
        [
            (pod("old", "Running", True), claim("c-old", "Bound")),
            (pod("new-1", "Pending", False, node=None), claim("c-new", "Pending")),
        ]
    )
    with pytest.raises(WaitTimeout):
        database.rebuild(k, "ns", "pg-replica-1", timeout=30)
    assert k.pod_deletes == 1
