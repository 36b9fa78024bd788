"""Défi 21: the module fails on a VM without the tenant's key, a tenant without quota, an SSH Service
that selects nothing, a tenant without network isolation.

Each variant changes the hand-in, then runs the module on the local cluster (KubeVirt installed once,
cached; a VM booted under emulation each: minutes). D21.5 (stop and start) is left out: it would only
fail again where D21.4 already did, after another boot.
"""

from __future__ import annotations

import pytest
from requirements import caught
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
