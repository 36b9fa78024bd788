"""Défi 22: the module fails on a training that is not distributed, saves nothing, or learnt wrong labels.

Each variant changes only the hand-in's TrainJob (the ClusterTrainingRuntime is cluster-wide, shared),
then runs the whole module on the local cluster: a full training each (minutes; `tox -e harness`, or
`pytest tests/harness/test_broken_defi22.py`). The grader's own evaluation is what catches the last
two: the job's logs and metrics look normal in both.
"""

from __future__ import annotations

import pytest
from requirements import caught
from variants import broken_handin, of_kind

TRAIN = ["python3", "/opt/mnist/train.py", "--out", "/models"]


def single_node(docs):
    """One pod: it completes and its model is good, but nothing was distributed."""
    for job in of_kind(docs, "TrainJob"):
        job["spec"]["trainer"]["numNodes"] = 1


def not_saved(docs):
    """Trains on 2 pods, writes no model."""
    for job in of_kind(docs, "TrainJob"):
        job["spec"]["trainer"]["command"] = [*TRAIN, "--no-save"]


def labels_shuffled(docs):
    """Trains on 2 pods on shuffled labels: Complete, a model saved, and it recognises nothing."""
    for job in of_kind(docs, "TrainJob"):
        job["spec"]["trainer"]["command"] = [*TRAIN, "--shuffle-labels"]


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(single_node, marks=pytest.mark.breaks("D22.3", "D22.5"), id="single-node"),
        pytest.param(not_saved, marks=pytest.mark.breaks("D22.5"), id="not-saved"),
        pytest.param(labels_shuffled, marks=pytest.mark.breaks("D22.5"), id="labels-shuffled"),
    ],
)
def test_defi22_catches(mutate, request, pytester, tmp_path):
    root = broken_handin(tmp_path, "defi22", mutate)
    caught(request, pytester, "test_defi22.py", "--handin", str(root), "-k", "not broken_command and not too_big")
