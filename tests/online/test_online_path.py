"""The online path, end to end, as a laptop with internet runs it (`KUBEDEFIS_OFFLINE=0 make up`).

The registries are stood in for by a local `distribution` registry (mirror.py) that holds the
offline build's images under their upstream names; dockerd and the node's containerd ask it first.
The run then pulls kind's node image by name, pulls the add-ons in the node by name, pulls
`debian:trixie-slim` for the site's build, starts the défi 2 stage and answers on its URL; then the
défi 2 module grades that cluster as `tox -e defi2` would on the laptop. Its own kind cluster
(`kdonline`, ports 18080/18443) lives beside the suite's and is deleted at the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests
from mirror import LOCAL, SLIM, run_online

from kubedefis.core import paths, versions
from kubedefis.core.shell import run
from kubedefis.localcluster import provider
from kubedefis.stack import images

CLUSTER = "kdonline"
HTTP_PORT, HTTPS_PORT = 18080, 18443
UP_TIMEOUT = 1800  # s: a cold online `make up` on a laptop pulls ~1 GB; here it should take minutes


def mirror_forget() -> list[str]:
    """The défi 2 image too: its build pulls debian:trixie-slim, as on a laptop that never built it."""
    return [images.web_nodb("v1").ref(), "kubedefis/web-nodb:v1"]


@pytest.fixture(scope="module")
def online_up(online_env: dict[str, str]) -> tuple[str, float]:
    """`make up`'s command, online, on a machine without the cluster: (the URL it printed, seconds)."""
    stdout, _, seconds = run_online(["up", "--stage", "defi2"], online_env, UP_TIMEOUT, "make up")
    url = stdout.strip().splitlines()[-1]
    assert url.startswith("http://"), f"make up printed no URL last:\n{stdout[-2000:]}"
    return url, seconds


def registry_digest(name: str) -> str:
    """The manifest digest the mirror serves for `path:tag`."""
    path, tag = name.rsplit(":", 1)
    reply = requests.head(
        f"http://{LOCAL}/v2/{path}/manifests/{tag}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        timeout=10,
    )
    reply.raise_for_status()
    return reply.headers["Docker-Content-Digest"]


def test_online_make_up_pulls_by_upstream_names_and_serves_the_site(
    online_up: tuple[str, float], record: object
) -> None:
    url, seconds = online_up
    record("online_make_up_defi2_s", round(seconds, 1))  # type: ignore[operator]
    # kind's node image came from the registry under its upstream name, verified by digest.
    digests = run(["docker", "image", "inspect", "--format", "{{json .RepoDigests}}", versions.UPSTREAM_NODE_IMAGE])
    node_digest = registry_digest("kindest/node:" + versions.KUBERNETES)
    assert f"kindest/node@{node_digest}" in digests.stdout, (
        f"{versions.UPSTREAM_NODE_IMAGE} was not pulled from the registry (RepoDigests {digests.stdout.strip()}, "
        f"served {node_digest})"
    )
    # The site's image was built FROM debian:trixie-slim pulled the same way (the classic builder tags
    # what it pulls; BuildKit keeps it in its own cache, and then the name stays absent).
    slim = run(["docker", "image", "inspect", "--format", "{{json .RepoDigests}}", SLIM]).stdout
    slim_digest = registry_digest(f"library/{SLIM}")
    assert f"debian@{slim_digest}" in slim, f"{SLIM}: RepoDigests {slim.strip()}, served {slim_digest}"
    # The site answers on the URL make up printed (défi 2's Host, on the published port).
    host = url.split("//", 1)[1].split("/", 1)[0].split(":")[0]
    reply = requests.get(f"http://127.0.0.1:{HTTP_PORT}/", headers={"Host": host}, timeout=10)
    assert reply.status_code == 200, f"GET {url}: {reply.status_code} {reply.text[:300]}"


@pytest.mark.parametrize("addon", ["traefik", "metrics_server"])
def test_addons_run_the_images_pulled_through_the_node(online_up: tuple[str, float], addon: str) -> None:
    """The node's containerd pulled each add-on by its upstream name, from the registry, by digest."""
    ref = provider.upstream_addon_images()[addon]
    name = ref.split("/", 1)[1]
    served = registry_digest(name if "/" in name.split(":")[0] else f"library/{name}")
    node = ["docker", "exec", f"{CLUSTER}-control-plane"]
    template = "{{json .status.repoDigests}}"
    images = run([*node, "crictl", "inspecti", "-o", "go-template", "--template", template, ref]).stdout
    assert served in images, f"{ref} in the node: repo digests {images.strip()}, the registry serves {served}"
    containers = json.loads(run([*node, "crictl", "ps", "--state", "Running", "-o", "json"]).stdout)["containers"]
    running = [c for c in containers if c["image"].get("userSpecifiedImage") == ref]
    assert running, f"no running container of {ref} in the node"


def test_defi2_graded_on_the_online_cluster(
    online_up: tuple[str, float], online_env: dict[str, str], tmp_path: Path, record: object
) -> None:
    """`tox -e defi2` on the laptop: the défi 2 module on the cluster the online path made."""
    report = tmp_path / "junit.xml"
    start = time.monotonic()
    module = str(paths.REPO_ROOT / "conformance/test_defi2.py")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            module,
            f"--junitxml={report}",
            "-p",
            "no:cacheprovider",
            "--report-dir",
            str(tmp_path / "report"),
        ],
        env=online_env,
        cwd=paths.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    record("online_defi2_grading_s", round(time.monotonic() - start, 1))  # type: ignore[operator]
    cases = list(ET.parse(report).getroot().iter("testcase"))
    outcomes = {
        case.get("name"): next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
        for case in cases
    }
    assert done.returncode == 0, f"défi 2 on the online cluster: {outcomes}\n{done.stdout[-3000:]}"
    assert outcomes and set(outcomes.values()) == {"passed"}, f"not every défi 2 check passed: {outcomes}"
