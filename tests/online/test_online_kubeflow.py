"""Défi 22's online path: `kubedefis kubeflow install` on a cluster made online runs upstream's controllers.

Opt-in (KUBEDEFIS_ONLINE_KUBEFLOW=1; minutes of a 2-core machine):
`KUBEDEFIS_ONLINE_KUBEFLOW=1 tox -e online -- tests/online/test_online_kubeflow.py`.

As in test_online_path.py, a local `distribution` registry (mirror.py) stands in for the registries:
it serves the offline build's images under their upstream names, here also our Kubeflow Trainer and
JobSet builds as ghcr.io/kubeflow/trainer/trainer-controller-manager and registry.k8s.io/jobset/jobset.
The cluster is made with KUBEDEFIS_OFFLINE=0 (kind's upstream node image); `kubedefis kubeflow
install` must build neither controller, and the node must pull both by their upstream names; the
training image is ours and loaded. Then the défi 22 module grades that cluster.
The cluster's name and ports: KUBEDEFIS_ONLINE_KUBEFLOW_CLUSTER (kdonlinekf), _HTTP_PORT, _HTTPS_PORT.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from mirror import stand_ins, upstream_path
from test_online_path import registry_digest

from kubedefis.core import paths
from kubedefis.core.shell import Status, run
from kubedefis.localcluster import kubeflow as builds
from kubedefis.stack import kubeflow

pytestmark = pytest.mark.skipif(
    os.environ.get("KUBEDEFIS_ONLINE_KUBEFLOW") != "1",
    reason="opt-in: KUBEDEFIS_ONLINE_KUBEFLOW=1 (Kubeflow Trainer from upstream names through a local mirror)",
)

CLUSTER = os.environ.get("KUBEDEFIS_ONLINE_KUBEFLOW_CLUSTER", "kdonlinekf")
HTTP_PORT = os.environ.get("KUBEDEFIS_ONLINE_KUBEFLOW_HTTP_PORT", "18280")
HTTPS_PORT = os.environ.get("KUBEDEFIS_ONLINE_KUBEFLOW_HTTPS_PORT", "18643")
ADDON = "kubeflow"  # conftest's `installed`: `kubedefis kubeflow install` online
INSTALL_TIMEOUT = 1200  # s: the cluster (~1 min here), the controllers pulled through the mirror, Available
MODULE_TIMEOUT = 900  # s: défi 22's module, a 2-pod training and the grader's evaluation


def mirror_more() -> dict[str, str]:
    """The offline build's controller images, standing in for upstream's: local image -> path in the mirror."""
    ours = builds.build_controller_images(Status())
    return stand_ins(ours.all(), builds.upstream_image_refs().all())


def test_online_install_runs_upstream_s_controllers_pulled_by_their_upstream_names(installed, record):
    output, seconds = installed
    record("online_kubeflow_install_s", round(seconds, 1))
    ours = builds.image_refs()
    assert "with Go" not in output, f"a controller was built on the online path:\n{output}"
    assert not [ref for ref in ours.all() if ref in output], f"our controller images were used:\n{output}"
    node = ["docker", "exec", f"{CLUSTER}-control-plane"]
    containers = json.loads(run([*node, "crictl", "ps", "--state", "Running", "-o", "json"]).stdout)["containers"]
    running = {c["image"].get("userSpecifiedImage") for c in containers}
    template = "{{json .status.repoDigests}}"
    for ref in builds.upstream_image_refs().all():
        served = registry_digest(upstream_path(ref))
        digests = run([*node, "crictl", "inspecti", "-o", "go-template", "--template", template, ref]).stdout
        assert served in digests, f"{ref} in the node: repo digests {digests.strip()}, the mirror serves {served}"
        assert ref in running, f"no running container of {ref}: {sorted(i for i in running if i)}"
    loaded = run([*node, "crictl", "inspecti", "-o", "go-template", "--template", "{{.status.id}}",
                  f"docker.io/{kubeflow.RUNTIME_IMAGE}"]).stdout  # fmt: skip
    assert loaded.strip(), f"the training image {kubeflow.RUNTIME_IMAGE} is not in the node"


def test_defi22_graded_on_the_online_cluster(installed, online_env, tmp_path: Path, record):
    """`tox -e defi22` on a laptop with internet: the whole module on the cluster the online path made."""
    report = tmp_path / "junit.xml"
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(paths.REPO_ROOT / "conformance/test_defi22.py"),
         f"--junitxml={report}", "-p", "no:cacheprovider", "--report-dir", str(tmp_path / "report")],
        env=online_env, cwd=paths.REPO_ROOT, capture_output=True, text=True, timeout=MODULE_TIMEOUT,
    )  # fmt: skip
    record("online_defi22_grading_s", round(time.monotonic() - start, 1))
    outcomes = {
        case.get("name"): next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
        for case in ET.parse(report).getroot().iter("testcase")
    }
    assert done.returncode == 0, f"défi 22 on the online cluster: {outcomes}\n{done.stdout[-3000:]}"
    assert outcomes and set(outcomes.values()) == {"passed"}, f"not every défi 22 check passed: {outcomes}"
