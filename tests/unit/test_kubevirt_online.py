"""Défi 21's two ways to install KubeVirt: our images (offline) or upstream's by their upstream names (online).

The manifests are rendered from the same templates either way; only the images' prefix differs, and on
an online cluster nothing of KubeVirt's images is built or loaded (the guest's containerDisk still is).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedefis.core import versions
from kubedefis.core.errors import KubedefisError
from kubedefis.core.shell import Status
from kubedefis.localcluster import kubevirt as builds
from kubedefis.localcluster import provider
from kubedefis.stack import kubevirt

COMPONENTS = ("virt-operator", "virt-api", "virt-controller", "virt-handler", "virt-launcher")


def spec(node_image: str) -> provider.ClusterSpec:
    return provider.ClusterSpec("kdtest", node_image, {}, Path("/nonexistent/kind"), Path("/nonexistent/kubectl"))


def test_offline_images_are_ours_and_online_ones_upstream_s_by_their_upstream_names():
    assert builds.OFFLINE.images().all() == [f"kubedefis/{c}:{versions.KUBEVIRT}" for c in COMPONENTS]
    assert builds.UPSTREAM.images().all() == [f"quay.io/kubevirt/{c}:{versions.KUBEVIRT}" for c in COMPONENTS]
    assert builds.image_ref("virt-api") == builds.OFFLINE.image("virt-api")


@pytest.mark.parametrize(("release", "prefix"), [(builds.OFFLINE, "kubedefis"), (builds.UPSTREAM, "quay.io/kubevirt")])
def test_the_templator_is_given_the_release_s_prefix_and_tag(release, prefix):
    variables = builds.templator_variables(release, Path("/in.yaml"), Path("/logo.png"))
    assert f"--container-prefix={prefix}" in variables
    assert f"--container-tag={versions.KUBEVIRT}" in variables
    assert "--input-file=/in.yaml" in variables
    assert "--namespace=kubevirt" in variables


OPERATOR = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: kubevirt-operator, namespace: kubevirt}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: virt-operator, namespace: kubevirt}
spec:
  template:
    spec:
      containers:
        - name: virt-operator
          image: quay.io/kubevirt/virt-operator:v1.7.0
          env:
            - {name: VIRT_OPERATOR_IMAGE, value: quay.io/kubevirt/virt-operator:v1.7.0}
            - {name: KUBEVIRT_VERSION, value: v1.7.0}
"""


def test_the_operator_s_image_and_version_are_read_from_a_rendered_manifest():
    assert builds.operator_image(OPERATOR) == ("quay.io/kubevirt/virt-operator:v1.7.0", "v1.7.0")
    with pytest.raises(KubedefisError, match="no virt-operator Deployment"):
        builds.operator_image(OPERATOR.split("---")[0])


@pytest.mark.parametrize("release", [builds.OFFLINE, builds.UPSTREAM], ids=["offline", "online"])
def test_the_module_s_templates_render_for_each_release(release):
    """The real templator (from the offline build here) on the module's templates, for both prefixes."""
    if not builds.KUBEVIRT.built() and not builds.TOOLS.built():
        pytest.skip("no KubeVirt templator built here (kubedefis kubevirt build)")
    templator = builds.KUBEVIRT.out_dir if builds.KUBEVIRT.built() else builds.TOOLS.out_dir
    operator, cr = builds.render_manifests(templator, release)
    assert builds.operator_image(operator) == (release.image("virt-operator"), versions.KUBEVIRT)
    other = builds.UPSTREAM if release is builds.OFFLINE else builds.OFFLINE
    images = {
        value
        for doc in yaml.safe_load_all(operator)
        if doc and doc["kind"] == "Deployment"
        for container in doc["spec"]["template"]["spec"]["containers"]
        for value in [container["image"], *(e.get("value", "") for e in container.get("env", []))]
        if ":" in str(value) and "/" in str(value)
    }
    assert images and all(image.startswith(f"{release.prefix}/") for image in images), images
    assert not any(other.prefix in image for image in images)
    kubevirt_cr = yaml.safe_load(cr)
    assert kubevirt_cr["kind"] == "KubeVirt"
    assert kubevirt_cr["spec"].get("imagePullPolicy") == "IfNotPresent"


def test_kubevirt_follows_the_cluster_s_mode():
    assert kubevirt.upstream_cluster(spec(versions.UPSTREAM_NODE_IMAGE)) is True
    assert kubevirt.upstream_cluster(spec("kubedefis/node:v1.34.4-0123456789ab")) is False


def built(upstream: bool) -> kubevirt.Built:
    release = builds.UPSTREAM if upstream else builds.OFFLINE
    return kubevirt.Built(
        release.images(), Path("/op.yaml"), Path("/cr.yaml"), Path("/virtctl"), kubevirt.GUEST_IMAGE, upstream
    )


def test_online_only_the_guest_image_is_loaded_into_the_node():
    assert built(upstream=True).to_load() == [kubevirt.GUEST_IMAGE]
    assert built(upstream=False).to_load() == [*builds.OFFLINE.images().all(), kubevirt.GUEST_IMAGE]


@pytest.mark.parametrize("online", [True, False], ids=["online", "offline"])
def test_install_builds_and_loads_only_what_the_cluster_s_mode_needs(monkeypatch, tmp_path, online):
    calls: dict[str, Any] = {"built": [], "loaded": [], "applied": []}
    operator = tmp_path / "kubevirt-operator.yaml"
    operator.write_text(OPERATOR)
    cr = tmp_path / "kubevirt-cr.yaml"
    cr.write_text("apiVersion: kubevirt.io/v1\nkind: KubeVirt\nmetadata: {name: kubevirt}\nspec: {}\n")

    def fake_build(upstream: bool):
        def build(status: Status) -> kubevirt.Built:
            calls["built"].append("upstream" if upstream else "offline")
            release = builds.UPSTREAM if upstream else builds.OFFLINE
            return kubevirt.Built(release.images(), operator, cr, Path("/virtctl"), kubevirt.GUEST_IMAGE, upstream)

        return build

    monkeypatch.setattr(kubevirt, "build_all", fake_build(False))
    monkeypatch.setattr(kubevirt, "build_upstream", fake_build(True))
    monkeypatch.setattr(kubevirt.provider, "load_images", lambda local, images, status: calls["loaded"].extend(images))
    monkeypatch.setattr(kubevirt.provider, "apply_manifest", lambda local, text: calls["applied"].append(text))
    monkeypatch.setattr(kubevirt.kube, "wait_deployment", lambda *args: None)
    monkeypatch.setattr(kubevirt, "wait_deployed", lambda *args: None)
    monkeypatch.setattr(kubevirt.builds, "detect_kvm", lambda: (False, "test"))
    node = versions.UPSTREAM_NODE_IMAGE if online else "kubedefis/node:test"
    result = kubevirt.install(None, spec(node), Status(), 1)  # type: ignore[arg-type]
    assert calls["built"] == ["upstream" if online else "offline"]
    assert result.upstream is online
    expected = [kubevirt.GUEST_IMAGE] if online else [*builds.OFFLINE.images().all(), kubevirt.GUEST_IMAGE]
    assert calls["loaded"] == expected
    assert calls["applied"][0] == OPERATOR
    applied_cr = yaml.safe_load(calls["applied"][1])
    assert applied_cr["spec"]["configuration"]["developerConfiguration"]["useEmulation"] is True


def test_the_online_tools_render_what_the_offline_build_renders():
    """TOOLS (virtctl and the templator, pure Go) renders byte for byte what the full cgo build's templator does."""
    if not (builds.KUBEVIRT.built() and builds.TOOLS.built()):
        pytest.skip("needs both the offline build and the online tools here")
    for release in (builds.OFFLINE, builds.UPSTREAM):
        assert builds.render_manifests(builds.TOOLS.out_dir, release) == builds.render_manifests(
            builds.KUBEVIRT.out_dir, release
        )
