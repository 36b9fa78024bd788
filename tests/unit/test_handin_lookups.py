"""Défis 21 and 22 read a group's hand-in: what they look for is found however the group arranged it,
and a hand-in without it fails with what was expected and found, not a ValueError (no cluster needed).
"""

from __future__ import annotations

import copy
import importlib.util
import sys
from types import ModuleType

import pytest
from kubernetes.client.exceptions import ApiException

from kubedefis.core import manifests, paths


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"{name}_module", paths.REPO_ROOT / f"conformance/test_{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


d21 = _load("defi21")
d22 = _load("defi22")
DEFIS = paths.REPO_ROOT / "defis"


def test_a_handin_without_a_vm_says_what_it_has():
    objects = [o for o in d21.handin_objects(DEFIS) if o["kind"] != "VirtualMachine"]
    with pytest.raises(AssertionError, match=r"expected a VirtualMachine in the hand-in, found .*ResourceQuota"):
        d21.vm_of(objects)


def test_a_handin_with_two_vms_is_graded_on_the_first():
    objects = d21.handin_objects(DEFIS)
    (vm,) = manifests.find(objects, "VirtualMachine")
    second = copy.deepcopy(vm)
    second["metadata"]["name"] = "vm2"
    assert d21.vm_of([*objects, second])["metadata"]["name"] == vm["metadata"]["name"]


def _runtime() -> dict:
    (runtime,) = manifests.find(d22.handin_objects(DEFIS), "ClusterTrainingRuntime")
    return runtime


def test_the_runtime_is_the_one_the_trainjob_names():
    (job,) = manifests.find(d22.handin_objects(DEFIS), "TrainJob")
    assert d22.runtime_ref(job) == d22.RuntimeRef("ClusterTrainingRuntime", _runtime()["metadata"]["name"])
    namespaced = copy.deepcopy(job)
    namespaced["spec"]["runtimeRef"] = {"kind": "TrainingRuntime", "name": "ours"}
    assert d22.runtime_ref(namespaced) == d22.RuntimeRef("TrainingRuntime", "ours")
    del namespaced["spec"]["runtimeRef"]
    with pytest.raises(AssertionError, match="names no runtime"):
        d22.runtime_ref(namespaced)


class _Custom:
    def get_cluster_custom_object(self, *args):
        raise ApiException(status=404)

    def get_namespaced_custom_object(self, *args):
        raise ApiException(status=404)


class _Cluster:
    class kube:  # noqa: N801 - the shape of cluster.kube
        custom = _Custom()


@pytest.mark.parametrize("kind", ["ClusterTrainingRuntime", "TrainingRuntime"])
def test_a_runtime_nowhere_fails_with_its_name(kind):
    with pytest.raises(AssertionError, match=f"names the {kind} mnist-ddp, which neither the hand-in nor the cluster"):
        d22.read_runtime(_Cluster(), "tenant", d22.RuntimeRef(kind, "mnist-ddp"))


def test_the_model_claim_is_the_one_the_runtime_mounts():
    # our hand-in: one claim, mounted by the runtime
    assert d22.model_claim(DEFIS, _runtime()) == "mnist-models"


def _with_a_second_claim(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our hand-in plus a claim `mnist-data` that no pod of the runtime mounts."""
    objects = d22.handin_objects(DEFIS)
    (claim,) = manifests.find(objects, "PersistentVolumeClaim")
    data = copy.deepcopy(claim)
    data["metadata"]["name"] = "mnist-data"
    monkeypatch.setattr(d22, "handin_objects", lambda handin: [*objects, data])


def test_the_model_claim_among_several_is_the_mounted_one(monkeypatch):
    _with_a_second_claim(monkeypatch)
    assert d22.model_claim(DEFIS, _runtime()) == "mnist-models"


def test_an_ambiguous_model_claim_says_what_it_found(monkeypatch):
    _with_a_second_claim(monkeypatch)
    runtime = _runtime()
    for pod in d22.runtime_pod_specs(runtime):
        pod["volumes"] = []  # the runtime mounts nothing: the claim must come from the hand-in alone
    with pytest.raises(AssertionError, match=r"mount none, the hand-in has \['mnist-models', 'mnist-data'\]"):
        d22.model_claim(DEFIS, runtime)


def test_a_handin_without_a_trainjob_says_what_it_has(monkeypatch):
    objects = [o for o in d22.handin_objects(DEFIS) if o["kind"] != "TrainJob"]
    monkeypatch.setattr(d22, "handin_objects", lambda handin: objects)
    with pytest.raises(AssertionError, match="expected a TrainJob in the hand-in, found ClusterTrainingRuntime"):
        d22.the_trainjob(DEFIS)
