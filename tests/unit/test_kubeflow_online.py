"""Défi 22's two install modes: offline (our controller images, built and loaded) and online (upstream's).

The rendering tests run Helm on the chart from the module zips (skipped where Helm or the modules
are not here); the others need nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubedefis.core import versions
from kubedefis.core.errors import KubedefisError
from kubedefis.core.helm import Helm
from kubedefis.core.shell import Status
from kubedefis.core.tools import find_tool
from kubedefis.localcluster import kubeflow as builds
from kubedefis.localcluster.provider import ClusterSpec
from kubedefis.stack import kubeflow

UPSTREAM_TRAINER = f"ghcr.io/kubeflow/trainer/trainer-controller-manager:{versions.KUBEFLOW_TRAINER}"
UPSTREAM_JOBSET = f"registry.k8s.io/jobset/jobset:{versions.JOBSET}"


def spec(node_image: str) -> ClusterSpec:
    return ClusterSpec(
        name="kdunit", node_image=node_image, addon_images={}, kind=Path("kind"), kubectl=Path("kubectl")
    )


def test_upstream_names_are_those_of_upstream_s_manifests():
    refs = builds.upstream_image_refs()
    assert (refs.trainer, refs.jobset) == (UPSTREAM_TRAINER, UPSTREAM_JOBSET)
    ours = builds.image_refs()
    assert not set(ours.all()) & set(refs.all())


@pytest.mark.parametrize(
    "repository, expected",
    [
        (
            "ghcr.io/kubeflow/trainer/trainer-controller-manager",
            ("ghcr.io", "kubeflow/trainer/trainer-controller-manager"),
        ),
        ("kubedefis/trainer-controller-manager", ("docker.io", "kubedefis/trainer-controller-manager")),
        ("localhost:5000/trainer", ("localhost:5000", "trainer")),
        ("busybox", ("docker.io", "busybox")),
    ],
)
def test_split_registry(repository, expected):
    assert kubeflow.split_registry(repository) == expected


def test_online_values_name_upstream_s_images():
    values = kubeflow.chart_values(UPSTREAM_TRAINER, UPSTREAM_JOBSET)
    assert values["image"] == {
        "registry": "ghcr.io",
        "repository": "kubeflow/trainer/trainer-controller-manager",
        "tag": versions.KUBEFLOW_TRAINER,
    }
    assert values["jobset"]["image"] == {
        "repository": "registry.k8s.io/jobset/jobset",
        "tag": versions.JOBSET,
        "pullPolicy": "IfNotPresent",
    }
    assert values["runtimes"]["defaultEnabled"] is False


def test_the_cluster_s_node_image_decides_the_mode():
    assert kubeflow.upstream_controllers(spec(versions.UPSTREAM_NODE_IMAGE))
    assert not kubeflow.upstream_controllers(spec("kubedefis/node:v1.34.4-0123456789ab"))
    assert kubeflow.upstream_controllers(None)  # no node of ours to load images into


class FakeHelm:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def upgrade_install(self, chart, release, namespace, values, timeout, wait):
        self.values = values


@pytest.fixture
def fakes(monkeypatch):
    """install() with nothing built, loaded or waited for: what it loads, what it would have built."""
    seen: dict[str, Any] = {"loaded": None, "built_controllers": False}

    def build_controllers(status):
        seen["built_controllers"] = True
        return builds.image_refs()

    def load(local, images, status):
        seen["loaded"] = images

    monkeypatch.setattr(builds, "build_controller_images", build_controllers)
    monkeypatch.setattr(kubeflow, "build_runtime_image", lambda status: kubeflow.RUNTIME_IMAGE)
    monkeypatch.setattr(kubeflow, "prepare_chart", lambda: Path("/nonexistent/chart"))
    monkeypatch.setattr(kubeflow.provider, "load_images", load)
    monkeypatch.setattr(kubeflow, "wait_controllers", lambda client, timeout: None)
    return seen


def test_offline_install_builds_and_loads_our_controllers(fakes):
    helm = FakeHelm()
    built = kubeflow.install(None, helm, spec("kubedefis/node:v1.34.4-0123456789ab"), Status(), 1)  # type: ignore[arg-type]
    ours = builds.image_refs()
    assert fakes["built_controllers"]
    assert fakes["loaded"] == [ours.trainer, ours.jobset, kubeflow.RUNTIME_IMAGE]
    assert (built.trainer_image, built.jobset_image) == (ours.trainer, ours.jobset)
    assert helm.values["image"]["repository"] == "kubedefis/trainer-controller-manager"


def test_online_install_builds_nothing_and_loads_only_the_training_image(fakes):
    helm = FakeHelm()
    built = kubeflow.install(None, helm, spec(versions.UPSTREAM_NODE_IMAGE), Status(), 1)  # type: ignore[arg-type]
    assert not fakes["built_controllers"]
    assert fakes["loaded"] == [kubeflow.RUNTIME_IMAGE]
    assert (built.trainer_image, built.jobset_image) == (UPSTREAM_TRAINER, UPSTREAM_JOBSET)
    assert helm.values["image"]["registry"] == "ghcr.io"


# --- the chart itself, rendered ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def chart() -> tuple[Helm, Path]:
    try:
        return Helm(find_tool("helm")), kubeflow.prepare_chart()
    except (KubedefisError, OSError) as exc:
        pytest.skip(f"no Helm or no module zips here: {exc}")


def images_of(objects: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """Deployment name -> (image, pull policy) of its one container; every other object's images too."""
    found = {}
    for obj in objects:
        spec_ = (obj.get("spec") or {}).get("template", {}).get("spec", {})
        for container in [*spec_.get("initContainers", []), *spec_.get("containers", [])]:
            found[obj["metadata"]["name"]] = (container["image"], container.get("imagePullPolicy", ""))
    return found


@pytest.mark.parametrize(
    "mode, refs",
    [("offline", builds.image_refs()), ("online", builds.upstream_image_refs())],
    ids=["offline", "online"],
)
def test_the_chart_renders_each_mode_s_images_and_no_other(chart, mode, refs):
    helm, path = chart
    objects = helm.template(
        path, kubeflow.RELEASE, kubeflow.chart_values(refs.trainer, refs.jobset), kubeflow.NAMESPACE
    )
    assert images_of(objects) == {
        kubeflow.TRAINER_DEPLOYMENT: (refs.trainer, "IfNotPresent"),
        kubeflow.JOBSET_DEPLOYMENT: (refs.jobset, "IfNotPresent"),
    }, mode
    runtimes = [o for o in objects if o["kind"] in ("ClusterTrainingRuntime", "TrainingRuntime")]
    assert not runtimes, "upstream's runtimes (CUDA images) are not installed"
