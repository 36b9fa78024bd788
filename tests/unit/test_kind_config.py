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


def test_without_a_mirror_containerd_is_left_as_the_node_image_has_it(spec):
    config = yaml.safe_load(spec.kind_config())
    assert "containerdConfigPatches" not in config
    provider.write_registry_hosts(spec)
    assert not spec.registry_hosts.exists()


def test_a_mirror_is_asked_first_for_each_registry_with_the_registry_as_fallback(spec):
    from dataclasses import replace

    mirrored = replace(spec, registry_mirror="http://10.0.0.1:5000/")
    config = yaml.safe_load(mirrored.kind_config())
    (patch,) = config["containerdConfigPatches"]
    assert f'config_path = "{provider.CERTS_IN_NODE}"' in patch
    (node,) = config["nodes"]
    mounts = {m["containerPath"]: m["hostPath"] for m in node["extraMounts"]}
    assert mounts[provider.CERTS_IN_NODE] == str(mirrored.registry_hosts)
    provider.write_registry_hosts(mirrored)
    for registry, upstream in provider.MIRRORED_REGISTRIES.items():
        text = (mirrored.registry_hosts / registry / "hosts.toml").read_text()
        assert text.startswith(f'server = "{upstream}"')
        assert '[host."http://10.0.0.1:5000"]' in text and '"pull", "resolve"' in text


def test_a_mirror_that_is_not_a_url_is_refused_with_what_to_give(spec):
    from dataclasses import replace

    from kubedefis.core.errors import KubedefisError

    with pytest.raises(KubedefisError, match="not a URL"):
        provider.write_registry_hosts(replace(spec, registry_mirror="10.0.0.1:5000"))
