"""Défi 21: the module fails on a VM without the tenant's key, a tenant without quota, an SSH Service
that selects nothing, a tenant without network isolation; and passes a quota that counts something
else than VMs (their instances, or their pods' CPU), as another group's hand-in may.

Each variant changes the hand-in, then runs the module on the local cluster (KubeVirt installed once,
cached; a VM booted under emulation each: minutes). D21.5 (stop and start) is left out: it would only
fail again where D21.4 already did, after another boot.
"""

from __future__ import annotations

import pytest
from requirements import PASSED, caught, run
from variants import broken_handin, of_kind


def no_key(docs):
    """The VM asks for no access credentials: it boots, answers SSH, and lets the tenant's key in nowhere."""
    for vm in of_kind(docs, "VirtualMachine"):
        del vm["spec"]["template"]["spec"]["accessCredentials"]


def no_quota(docs):
    """The tenant gets no ResourceQuota: as many VMs as they like."""
    docs[:] = [d for d in docs if d.get("kind") != "ResourceQuota"]


def no_isolation(docs):
    """The tenant gets no NetworkPolicy: any pod of the cluster, another tenant's too, reaches their VMs."""
    docs[:] = [d for d in docs if d.get("kind") != "NetworkPolicy"]


def service_selects_nothing(docs):
    """The SSH Service's selector matches no pod: the NodePort answers nothing."""
    for service in of_kind(docs, "Service"):
        service["spec"]["selector"] = {"app.kubernetes.io/name": "no-such-vm"}


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(no_key, marks=pytest.mark.breaks("D21.4"), id="no-key"),
        pytest.param(no_quota, marks=pytest.mark.breaks("D21.6"), id="no-quota"),
        pytest.param(no_isolation, marks=pytest.mark.breaks("D21.7"), id="no-isolation"),
        pytest.param(service_selects_nothing, marks=pytest.mark.breaks("D21.4"), id="service-selects-nothing"),
    ],
)
def test_defi21_catches(mutate, request, pytester, tmp_path):
    root = broken_handin(tmp_path, "defi21", mutate)
    caught(request, pytester, "test_defi21.py", "--handin", str(root), "-k", "not stop_start")


def quota_on_instances_only(docs):
    """The quota counts running VMs (their VMI), not VMs: one runs, a second is refused when it starts."""
    for quota in of_kind(docs, "ResourceQuota"):
        quota["spec"]["hard"] = {"count/virtualmachineinstances.kubevirt.io": "1"}


def quota_on_cpu_only(docs):
    """The quota counts only CPU requests: the hand-in's VM's launcher (107m here) fits in 200m, a
    second one's pod is refused."""
    for quota in of_kind(docs, "ResourceQuota"):
        quota["spec"]["hard"] = {"requests.cpu": "200m"}


@pytest.mark.parametrize(
    "mutate",
    [pytest.param(quota_on_instances_only, id="vmis"), pytest.param(quota_on_cpu_only, id="cpu")],
)
def test_defi21_passes_a_quota_counted_otherwise(mutate, pytester, tmp_path):
    """D21.6 holds whatever the quota counts, as long as it refuses one VM too many."""
    root = broken_handin(tmp_path, "defi21", mutate)
    found = run(pytester, "test_defi21.py", "--handin", str(root), "-k", "quota")
    assert found == {"D21.6": PASSED}, found
