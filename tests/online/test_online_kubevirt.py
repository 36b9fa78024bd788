"""Défi 21's online path: `kubedefis kubevirt install` on a cluster made online installs upstream's KubeVirt.

Opt-in (KUBEDEFIS_ONLINE_KUBEVIRT=1; minutes of a 2-core machine, ~1 GB pushed to the mirror once):
`KUBEDEFIS_ONLINE_KUBEVIRT=1 tox -e online -- tests/online/test_online_kubevirt.py`.

As in test_online_path.py, a local `distribution` registry (mirror.py) stands in for the registries:
it serves the offline build's images under their upstream names, here also KubeVirt's under
quay.io/kubevirt/<component>:<version>. The cluster (`kdonlinekv`) is made with KUBEDEFIS_OFFLINE=0
(kind's upstream node image), then `kubedefis kubevirt install` must build none of KubeVirt's images,
render upstream's manifests, and the node must pull every component by its upstream name.
"""

from __future__ import annotations

import json
import os

import pytest
from mirror import stand_ins
from test_online_path import registry_digest

from kubedefis.core.shell import Status, run
from kubedefis.localcluster import kubevirt as builds
from kubedefis.stack import kubevirt

pytestmark = pytest.mark.skipif(
    os.environ.get("KUBEDEFIS_ONLINE_KUBEVIRT") != "1",
    reason="opt-in: KUBEDEFIS_ONLINE_KUBEVIRT=1 (KubeVirt from upstream names through a local mirror: minutes)",
)

CLUSTER = "kdonlinekv"
HTTP_PORT, HTTPS_PORT = 18180, 18543
ADDON = "kubevirt"  # conftest's `installed`: `kubedefis kubevirt install` online
INSTALL_TIMEOUT = 1500  # s: the cluster (~1 min here), KubeVirt's images pulled through the mirror, CR Deployed


def quay_path(ref: str) -> str:
    """quay.io/kubevirt/virt-api:v1.7.0 -> kubevirt/virt-api:v1.7.0 (its path in the mirror)."""
    return ref.split("/", 1)[1]


def mirror_more() -> dict[str, str]:
    """The offline build's KubeVirt images, standing in for upstream's: local image -> path in the mirror."""
    built = kubevirt.build_all(Status())
    return stand_ins(built.images.all(), builds.UPSTREAM.images().all(), quay_path)


def test_online_install_runs_upstream_s_images_pulled_by_their_upstream_names(installed, record):
    output, seconds = installed
    record("online_kubevirt_install_s", round(seconds, 1))
    assert "images: upstream" in output, output
    assert "Building image" not in output, f"KubeVirt's images were built on the online path:\n{output}"
    node = ["docker", "exec", f"{CLUSTER}-control-plane"]
    containers = json.loads(run([*node, "crictl", "ps", "--state", "Running", "-o", "json"]).stdout)["containers"]
    running = {c["image"].get("userSpecifiedImage") for c in containers}
    template = "{{json .status.repoDigests}}"
    for ref in builds.UPSTREAM.images().all():
        served = registry_digest(quay_path(ref))
        digests = run([*node, "crictl", "inspecti", "-o", "go-template", "--template", template, ref]).stdout
        assert served in digests, f"{ref} in the node: repo digests {digests.strip()}, the mirror serves {served}"
        if "/virt-launcher:" not in ref:  # the launcher's image is pulled by virt-handler, run with a VM
            assert ref in running, f"no running container of {ref}: {sorted(i for i in running if i)}"
