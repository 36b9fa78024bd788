"""kubectl applies survive an OpenAPI flap; the add-ons are applied once, by one process at a time."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from kubedefis.core import manifests, waits
from kubedefis.core.errors import CommandError
from kubedefis.localcluster import provider

FLAP = 'error validating "STDIN": error validating data: failed to download openapi: the server could not find'


def _runner(outcomes: list[str]):
    calls = []

    def run(command, input=None, **_):
        calls.append(command)
        outcome = outcomes.pop(0)
        if outcome != "ok":
            raise CommandError(list(command), 1, outcome)
        return subprocess.CompletedProcess(command, 0, "applied", "")

    return run, calls


def test_an_openapi_flap_is_tried_again(monkeypatch):
    run, calls = _runner([FLAP, FLAP, "ok"])
    monkeypatch.setattr(manifests, "run", run)
    monkeypatch.setattr(waits.time, "sleep", lambda s: None)
    assert manifests.kubectl_apply(["kubectl", "apply", "-f", "-"], input="x") == "applied"
    assert len(calls) == 3


def test_any_other_failure_is_final(monkeypatch):
    run, calls = _runner(['The Deployment "x" is invalid: spec.replicas: Invalid value: -1', "ok"])
    monkeypatch.setattr(manifests, "run", run)
    with pytest.raises(CommandError, match="Invalid value"):
        manifests.kubectl_apply(["kubectl", "apply", "-f", "-"], input="x")
    assert len(calls) == 1


def test_a_flap_that_lasts_fails_after_the_window(monkeypatch):
    run, calls = _runner([FLAP] * 5)
    clock = iter([0.0, 10.0, 70.0, 80.0, 90.0, 100.0])
    monkeypatch.setattr(manifests, "run", run)
    monkeypatch.setattr(waits.time, "sleep", lambda s: None)
    monkeypatch.setattr(waits.time, "monotonic", lambda: next(clock))
    with pytest.raises(waits.WaitTimeout, match="failed to download openapi"):
        manifests.kubectl_apply(["kubectl", "apply", "-f", "-"])
    assert len(calls) == 2


def _spec(tmp_path: Path) -> SimpleNamespace:
    return SimpleNamespace(state_dir=tmp_path, kubectl=Path("kubectl"), kubeconfig=tmp_path / "kubeconfig")


def test_addons_are_applied_once_then_skipped_while_ready(monkeypatch, tmp_path):
    applied, ready = [], {"now": True}
    monkeypatch.setattr(provider, "addon_manifests", lambda spec, names: " ".join(names))
    monkeypatch.setattr(provider, "apply_manifest", lambda spec, text: applied.append(text))
    monkeypatch.setattr(provider, "run", lambda *a, **k: None)
    monkeypatch.setattr(provider, "wait_ready", lambda client, timeout: None)
    monkeypatch.setattr(provider, "wait_for", lambda *a, **k: None)
    monkeypatch.setattr(provider, "addons_ready", lambda client: ready["now"])
    spec = _spec(tmp_path)
    provider.install_addons(spec, None, 10)  # type: ignore[arg-type]
    assert len(applied) == 2
    provider.install_addons(spec, None, 10)  # type: ignore[arg-type]
    assert len(applied) == 2  # stamped and ready: nothing applied again
    ready["now"] = False  # the node restarted, an add-on is down
    provider.install_addons(spec, None, 10)  # type: ignore[arg-type]
    assert len(applied) == 4
    monkeypatch.setattr(provider, "addon_manifests", lambda spec, names: "v2 " + " ".join(names))
    ready["now"] = True  # a new add-on version: applied although the old one runs
    provider.install_addons(spec, None, 10)  # type: ignore[arg-type]
    assert len(applied) == 6
