"""A hand-in is applied as the course's `kubectl apply -f`, then its Jobs are awaited by their names."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from kubedefis.core import kube, manifests
from kubedefis.core.errors import KubedefisError
from kubedefis.core.waits import Check
from kubedefis.harness import stage

OBJECTS = [
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "site"}},
    {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "site-migrate"}},
]


@pytest.fixture
def handle(monkeypatch):
    applied: list[object] = []
    monkeypatch.setattr(manifests, "load", lambda folders: OBJECTS)
    monkeypatch.setattr(manifests, "apply", lambda command, namespace, objects: applied.append(objects))
    return SimpleNamespace(kube=object(), kubectl_command=lambda: ["kubectl"], applied=applied)


def test_every_job_of_the_hand_in_is_awaited_by_its_name(handle, monkeypatch):
    asked: list[tuple[str, str]] = []

    def complete(client, namespace, name):
        asked.append((namespace, name))
        return Check(True, None, "complete")

    monkeypatch.setattr(kube, "job_complete", complete)
    assert stage.apply_handin(handle, "ns", Path("defis/defi4")) == OBJECTS
    assert handle.applied == [OBJECTS]
    assert asked == [("ns", "site-migrate")]


def test_a_job_that_will_not_end_stops_the_wait_with_why(handle, monkeypatch):
    """The wait asks kube.why_stuck about that Job only (its failure, its pods), not the whole hand-in."""
    asked: list[tuple[str, str | None]] = []

    def stuck(client, namespace, waited_for=None, job=None):
        asked.append((namespace, job))
        return "pod site-migrate-x cannot be scheduled: 0/1 nodes are available: 1 Insufficient cpu"

    monkeypatch.setattr(kube, "job_complete", lambda client, namespace, name: Check(False, None, "0 succeeded"))
    monkeypatch.setattr(kube, "why_stuck", stuck)
    monkeypatch.setattr(kube, "evidence", lambda *args: "")
    with pytest.raises(KubedefisError, match="Insufficient cpu"):
        stage.apply_handin(handle, "ns", Path("defis/defi4"))
    assert asked == [("ns", "site-migrate")]
