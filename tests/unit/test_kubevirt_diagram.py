"""`kubedefis diagram` on défi 21's hand-in: the VirtualMachine drawn as a workload, its pod inside it.

KubeVirt's virt-launcher pod belongs to a VirtualMachineInstance named after its VirtualMachine and
carries the VM template's labels: the Service, the NetworkPolicy and the PVC attach to the VM's box.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from kubedefis.core import manifests, paths
from kubedefis.diagram.infra import render_objects

HANDIN = paths.REPO_ROOT / "defis/defi21"


def handin() -> list[dict[str, Any]]:
    return manifests.load([HANDIN])


def test_the_hand_in_s_vm_is_a_box_that_its_service_policy_and_disk_attach_to():
    dot = render_objects(handin(), "defi21")
    assert 'subgraph "cluster_VirtualMachine_vm1"' in dot
    assert "size u1.nano · runStrategy Always" in dot
    assert "disk root: kubedefis/guest-debian:0.1.0" in dot
    assert re.search(r'"Service/vm1-ssh" -> "VirtualMachine/vm1/pod" \[label="→ :22"', dot)
    assert re.search(r'"VirtualMachine/vm1/pod" -> "PersistentVolumeClaim/vm1-data" \[label="volume data"', dot)
    assert "no pod matches" not in dot  # the Service's selector is the VM template's label
    # podSelector {} selects every pod of the namespace, the VM's included
    assert "selects all pods" in dot
    assert re.search(r'"NetworkPolicy/tenant-isolation" -> "VirtualMachine/vm1/pod"', dot)
    assert re.search(r'"peer/cidr/0\.0\.0\.0/0 except 10\.244\.0\.0/16" -> "VirtualMachine/vm1/pod".*TCP 22', dot)


def test_a_live_launcher_pod_is_drawn_inside_its_vm():
    objects = handin()
    (vm,) = manifests.find(objects, "VirtualMachine")
    vm["status"] = {"printableStatus": "Running"}
    template = copy.deepcopy(vm["spec"]["template"])
    pod = {
        "kind": "Pod",
        "metadata": {
            "name": "virt-launcher-vm1-h8sb4",
            "labels": {**template["metadata"]["labels"], "kubevirt.io": "virt-launcher"},
            "ownerReferences": [{"kind": "VirtualMachineInstance", "name": "vm1", "controller": True}],
        },
        "spec": {
            "containers": [{"name": "compute", "image": "kubedefis/virt-launcher:v1.7.0"}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "vm1-data"}}],
        },
        "status": {"phase": "Running"},
    }
    dot = render_objects([*objects, pod], "defi21 live")
    box = dot[dot.index('subgraph "cluster_VirtualMachine_vm1"') :]
    box = box[: box.index("}")]
    assert '"Pod/virt-launcher-vm1-h8sb4"' in box, box
    assert "Running" in dot
    assert re.search(r'"Pod/virt-launcher-vm1-h8sb4" -> "PersistentVolumeClaim/vm1-data"', dot)
