"""Défi 21's build facts that need no cluster: KVM detection, the CR's emulation switch, the module's go.mod."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from kubedefis.core import manifests, paths, versions
from kubedefis.localcluster import gobuild
from kubedefis.localcluster import kubevirt as builds
from kubedefis.stack import kubevirt

INTEL_VMX = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr pae vmx ept\n"
PVM_GUEST = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr pae hypervisor\n"


def test_kvm_is_used_only_with_hardware_virtualisation_and_dev_kvm():
    assert builds.kvm_usable(INTEL_VMX, dev_kvm=True, pvm_loaded=False)[0] is True
    assert builds.kvm_usable(INTEL_VMX.replace("vmx", "svm"), dev_kvm=True, pvm_loaded=False)[0] is True


@pytest.mark.parametrize(
    ("cpuinfo", "dev_kvm", "pvm", "reason"),
    [
        (INTEL_VMX, False, False, "no /dev/kvm"),
        (INTEL_VMX, True, True, "PVM"),  # this machine: /dev/kvm from kvm_pvm
        (PVM_GUEST, True, False, "vmx/svm"),
    ],
)
def test_emulation_when_kvm_guests_cannot_run(cpuinfo, dev_kvm, pvm, reason):
    usable, why = builds.kvm_usable(cpuinfo, dev_kvm=dev_kvm, pvm_loaded=pvm)
    assert usable is False
    assert reason in why


UPSTREAM_CR = """
apiVersion: kubevirt.io/v1
kind: KubeVirt
metadata:
  name: kubevirt
  namespace: kubevirt
spec:
  certificateRotateStrategy: {}
  configuration:
    developerConfiguration:
      featureGates: []
  customizeComponents: {}
  imagePullPolicy: IfNotPresent
  workloadUpdateStrategy: {}
"""


@pytest.mark.parametrize("emulate", [True, False])
def test_the_cr_gets_use_emulation_and_keeps_everything_else(emulate):
    cr = kubevirt.kubevirt_cr(UPSTREAM_CR, use_emulation=emulate)
    assert cr["spec"]["configuration"]["developerConfiguration"] == {"featureGates": [], "useEmulation": emulate}
    original = yaml.safe_load(UPSTREAM_CR)
    del original["spec"]["configuration"]
    del cr["spec"]["configuration"]
    assert cr == original


def test_go_builds_ignore_a_module_s_go_work():
    assert gobuild.go_env()["GOWORK"] == "off"


def _cached_module() -> Path:
    folder = paths.go_env_dirs()["GOMODCACHE"] + f"/kubevirt.io/kubevirt@{versions.KUBEVIRT}"
    path = Path(folder)
    if not (path / "go.mod").exists():
        pytest.skip("kubevirt.io/kubevirt is not in the module cache here (kubedefis kubevirt build)")
    return path


def test_every_staging_replace_of_upstream_is_pointed_at_the_published_module():
    staged = re.findall(r"^\s*(\S+)\s+=>\s+\./staging/", (_cached_module() / "go.mod").read_text(), flags=re.M)
    assert sorted(staged) == ["kubevirt.io/api", "kubevirt.io/client-go"]
    assert dict(builds.KUBEVIRT.replaces) == {name: f"{name}@{versions.KUBEVIRT}" for name in staged}


def test_the_launcher_s_upstream_files_and_commands_exist_in_the_module():
    module = _cached_module()
    for name, source in kubevirt.launcher_files(module, module / "cmd/container-disk-v2alpha/main.c").items():
        if not name.startswith("bin/virt-"):  # the binaries are built, not in the module
            assert source.is_file(), name
    for package in builds.KUBEVIRT.packages:
        assert (module / package).is_dir(), package


def test_the_rendered_operator_runs_our_image_from_which_it_names_the_others():
    """virt-operator derives every component's image from its own: ours must follow image_ref's pattern."""
    if not builds.KUBEVIRT.built():
        pytest.skip("KubeVirt is not built here (kubedefis kubevirt build)")
    operator, cr = builds.render_manifests(builds.KUBEVIRT.out_dir)
    docs = [d for d in yaml.safe_load_all(operator) if d]
    deployment = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "virt-operator")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == builds.image_ref("virt-operator")
    assert {"name": "KUBEVIRT_VERSION", "value": versions.KUBEVIRT} in container["env"]
    assert yaml.safe_load(cr)["kind"] == "KubeVirt"


def test_the_hand_in_boots_our_guest_image_and_its_service_selects_the_vm():
    objects = manifests.load([paths.REPO_ROOT / "defis/defi21"])
    (vm,) = manifests.find(objects, "VirtualMachine")
    template = vm["spec"]["template"]
    images = {v["containerDisk"]["image"] for v in template["spec"]["volumes"] if "containerDisk" in v}
    images.add(template["spec"]["domain"]["firmware"]["kernelBoot"]["container"]["image"])
    assert images == {kubevirt.GUEST_IMAGE}
    (service,) = manifests.find(objects, "Service")
    assert manifests.selects(service["spec"]["selector"], template["metadata"]["labels"])
    assert manifests.find(objects, "ResourceQuota")
