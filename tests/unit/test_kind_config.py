"""The kind cluster's shape: one node publishing the Ingress ports, the control plane's CPU requests patched."""

from pathlib import Path

import pytest
import yaml

from kubedefis.core import paths
from kubedefis.localcluster import provider
from kubedefis.localcluster.provider import ClusterSpec


@pytest.fixture
def spec(tmp_path, monkeypatch) -> ClusterSpec:
    monkeypatch.setattr(paths, "cache_root", lambda: tmp_path)
    return ClusterSpec(
        name="kd", node_image="kubedefis/node:x", addon_images={}, kind=Path("kind"), kubectl=Path("kubectl")
    )


def test_one_node_publishes_the_ingress_ports_and_mounts_the_patches(spec):
    (node,) = yaml.safe_load(spec.kind_config())["nodes"]
    assert node["role"] == "control-plane" and node["image"] == "kubedefis/node:x"
    assert node["labels"] == {"ingress-ready": "true"}
    assert {m["containerPort"] for m in node["extraPortMappings"]} == {80, 443}
    (mount,) = node["extraMounts"]
    assert mount["hostPath"] == str(spec.kubeadm_patches) and mount["containerPath"] == provider.PATCHES_IN_NODE
    (init,) = [yaml.safe_load(p) for p in node["kubeadmConfigPatches"]]
    assert init == {"kind": "InitConfiguration", "patches": {"directory": provider.PATCHES_IN_NODE}}


def test_each_control_plane_pod_gets_a_strategic_patch_of_its_cpu_request(spec):
    provider.write_kubeadm_patches(spec)
    files = sorted(p.name for p in spec.kubeadm_patches.iterdir())
    assert files == sorted(f"{c}+strategic.yaml" for c in provider.CONTROL_PLANE_REQUESTS)
    patch = yaml.safe_load((spec.kubeadm_patches / "kube-apiserver+strategic.yaml").read_text())
    (container,) = patch["spec"]["containers"]
    assert container == {"name": "kube-apiserver", "resources": {"requests": {"cpu": "100m"}}}
    # what is left of the node's 2 CPUs for the stages: more than défi 5's 800m and a light stage beside it,
    # while the controller manager keeps kubeadm's 200m (its CPU weight when the lanes contend)
    total = sum(int(cpu.removesuffix("m")) for cpu in provider.CONTROL_PLANE_REQUESTS.values())
    assert total <= 400 and provider.CONTROL_PLANE_REQUESTS["kube-controller-manager"] == "200m"
