"""D12 on a group's hand-in: a component whose selector matches several StatefulSets is a finding (what
was expected and found, as défi 13 says it), never the first of them taken for the primary."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

from kubedefis.harness import checks
from kubedefis.harness.target import Component, Target

MODULE = Path(__file__).resolve().parents[2] / "conformance" / "test_defi12.py"
_spec = importlib.util.spec_from_file_location("grading_defi12", MODULE)
assert _spec and _spec.loader
defi12 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(defi12)


def statefulset(name: str, labels: dict[str, str], replicas: int) -> dict:
    return {
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "postgres"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}}],
        },
    }


# The replicas' StatefulSet listed first (file order: `pg-replica.yaml` before `postgres.yaml`, say).
REPLICA = statefulset("pg-replica", {"app": "postgres", "role": "replica"}, 2)
PRIMARY = statefulset("postgres", {"app": "postgres", "role": "primary"}, 1)


def suite(**components: str) -> SimpleNamespace:
    chosen = {key: Component(selector=selector) for key, selector in components.items()}
    return SimpleNamespace(target=Target(components={**Target().components, **chosen}))


def test_a_primary_selector_matching_the_replicas_too_is_a_finding_never_the_first():
    bare = suite(**{"database": "app=postgres", "database-replica": "app=postgres,role=replica"})
    with pytest.raises(checks.RequirementFailed) as failed:
        defi12._statefulsets([REPLICA, PRIMARY], bare)
    (finding,) = failed.value.findings
    assert finding.where == "the database component", finding
    assert "pods labelled app=postgres" in finding.expected, finding
    assert "StatefulSet/pg-replica" in finding.found and "StatefulSet/postgres" in finding.found, finding


def test_a_missing_component_is_a_finding_too():
    with pytest.raises(checks.RequirementFailed, match="the database-replica component"):
        defi12._statefulsets([PRIMARY], suite(**{"database": "app=postgres", "database-replica": "role=replica"}))


def test_each_component_matching_one_statefulset_is_found():
    exact = suite(**{"database": "app=postgres,role=primary", "database-replica": "app=postgres,role=replica"})
    found = defi12._statefulsets([REPLICA, PRIMARY], exact)
    assert found == {"database": PRIMARY, "database-replica": REPLICA}
