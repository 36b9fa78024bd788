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
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from mirror import LOCAL, Mirror, elapsed
from test_online_path import registry_digest

from kubedefis.core import paths, versions
from kubedefis.core.shell import Status, run
from kubedefis.localcluster import kubevirt as builds
from kubedefis.stack import kubevirt

pytestmark = pytest.mark.skipif(
    os.environ.get("KUBEDEFIS_ONLINE_KUBEVIRT") != "1",
    reason="opt-in: KUBEDEFIS_ONLINE_KUBEVIRT=1 (KubeVirt from upstream names through a local mirror: minutes)",
)

CLUSTER = "kdonlinekv"
HTTP_PORT, HTTPS_PORT = 18180, 18543
INSTALL_TIMEOUT = 1500  # s: the cluster (~1 min here), KubeVirt's images pulled through the mirror, CR Deployed


def quay_path(ref: str) -> str:
    """quay.io/kubevirt/virt-api:v1.7.0 -> kubevirt/virt-api:v1.7.0 (its path in the mirror)."""
    return ref.split("/", 1)[1]


@pytest.fixture(scope="module")
def mirror() -> Iterator[Mirror]:
    served = Mirror(Status())
    try:
        served.start()
        served.publish()
        built = kubevirt.build_all(Status())  # the offline build's images stand in for upstream's
        for ours, upstream in zip(built.images.all(), builds.UPSTREAM.images().all(), strict=True):
            run(["docker", "tag", ours, f"{LOCAL}/{quay_path(upstream)}"])
            run(["docker", "push", "-q", f"{LOCAL}/{quay_path(upstream)}"])
            run(["docker", "rmi", f"{LOCAL}/{quay_path(upstream)}"])
        served.forget_upstream_names()
        served.mirror_dockerd()
        yield served
    finally:
        kind = paths.bin_dir() / f"kind-{versions.KIND}" / "kind"
        subprocess.run([str(kind), "delete", "cluster", "--name", CLUSTER], capture_output=True)
        served.close()


@pytest.fixture(scope="module")
def installed(mirror: Mirror) -> tuple[str, float]:
    env = {
        **os.environ,
        "KUBEDEFIS_OFFLINE": "0",
        "KUBEDEFIS_CLUSTER": CLUSTER,
        "KUBEDEFIS_HTTP_PORT": str(HTTP_PORT),
        "KUBEDEFIS_HTTPS_PORT": str(HTTPS_PORT),
        "KUBEDEFIS_REGISTRY_MIRROR": mirror.node_url,
    }
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "kubedefis", "kubevirt", "install"],
        env=env,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
    )
    output = f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert done.returncode == 0, f"online kubevirt install failed ({elapsed(start)}):\n{output}"
    return output, time.monotonic() - start


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
