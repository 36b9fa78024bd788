"""`kubedefis cluster down`: it starts the engine before it looks for the cluster, and says when it cannot look.

Session 18: with dockerd stopped, `kind get clusters` listed nothing and `cluster down` said "no kind
cluster named 'kubedefis'", leaving the cluster (its node container, stopped) in place.
"""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

import pytest

from kubedefis.commands import cli
from kubedefis.core.errors import CommandError, KubedefisError
from kubedefis.core.shell import Status


@pytest.fixture
def calls(monkeypatch):
    seen: list[str] = []
    monkeypatch.setattr(cli.gobuild, "build", lambda tool, status: SimpleNamespace(binary=lambda: "/bin/kind"))
    monkeypatch.setattr(cli.engine, "ensure_docker", lambda status: seen.append("engine"))
    return seen


def _kind(calls: list[str], listed: subprocess.CompletedProcess):
    def run(command, **kwargs):
        calls.append(" ".join(command[1:]))
        if command[1:3] == ["get", "clusters"]:
            if listed.returncode:
                raise CommandError(list(command), listed.returncode, listed.stderr)
            return listed
        return subprocess.CompletedProcess(command, 0, "", "")

    return run


def test_the_engine_is_started_before_the_cluster_is_looked_for_and_deleted(calls, monkeypatch):
    listed = subprocess.CompletedProcess([], 0, "kubedefis\nother\n", "")
    monkeypatch.setattr(cli, "run", _kind(calls, listed))
    cli._cluster_down(SimpleNamespace(name="kubedefis"), Status())
    assert calls == ["engine", "get clusters", "delete cluster --name kubedefis"]


def test_a_listing_that_fails_is_an_error_not_no_cluster(calls, monkeypatch):
    listed = subprocess.CompletedProcess([], 1, "", "Cannot connect to the Docker daemon")
    monkeypatch.setattr(cli, "run", _kind(calls, listed))
    with pytest.raises(KubedefisError, match=r"get clusters[\s\S]*Cannot connect"):
        cli._cluster_down(SimpleNamespace(name="kubedefis"), Status())
    assert "delete cluster --name kubedefis" not in calls
