"""Défi 22: Kubeflow Trainer (with JobSet) installed through its own Helm chart, and our training image.

The install is upstream's documented one, `helm install kubeflow-trainer` with JobSet as the chart's
dependency, made offline: both charts come from the Go module zips (upstream's Chart.yaml fetches
JobSet's from an OCI registry), the controllers' images are built from the same modules
(kubedefis.localcluster.kubeflow) and loaded into the kind node. The chart's LeaderWorkerSet
dependency serves only the data cache, which stays off, so it is dropped from our copy.

Requests are sized for a 2-core node that also runs the course's stack: JobSet asks 500m by
default, the trainer nothing; here 50m each, so that a TrainJob of two 500m pods still fits.

Online (the cluster was made from upstream's node image: `KUBEDEFIS_OFFLINE=0`, or the auto mode
found a registry, kubedefis.localcluster.plan), the controllers are upstream's images under their
upstream names, pulled by the node (through KUBEDEFIS_REGISTRY_MIRROR when set), and nothing is
built with Go; the chart is the same. The training image is ours in both modes (Debian's torch and
the training split: no registry publishes it), built here and loaded into the node.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kubedefis.core import kube, paths, versions
from kubedefis.core.errors import KubedefisError
from kubedefis.core.helm import Helm
from kubedefis.core.shell import Status, run
from kubedefis.core.waits import wait_for
from kubedefis.localcluster import kubeflow as builds
from kubedefis.localcluster import provider
from kubedefis.localcluster.rootfs import image_exists
from kubedefis.stack import images, mnist

NAMESPACE = "kubeflow-system"
RELEASE = "kubeflow-trainer"
TRAINER_DEPLOYMENT = "kubeflow-trainer-controller-manager"
JOBSET_DEPLOYMENT = "jobset-controller"
RUNTIME_CONTEXT = paths.REPO_ROOT / "workloads/mnist-trainer"
RUNTIME_IMAGE = f"kubedefis/mnist-trainer:{images.HANDIN_TAG}"  # the name defis/defi22/runtime.yaml uses
CONTROLLER_RESOURCES = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}


@dataclass(frozen=True)
class Installed:
    trainer_image: str
    jobset_image: str
    runtime_image: str


# --- the training image ---------------------------------------------------------------------------


def runtime_ref(digits: mnist.Digits) -> str:
    """kubedefis/mnist-trainer:<hash of the build context and of the training split>."""
    tag = hashlib.sha256(f"{images.context_hash(RUNTIME_CONTEXT, None)}:{digits.train.sha256}".encode())
    return f"kubedefis/mnist-trainer:{tag.hexdigest()[:12]}"


def build_runtime_image(status: Status) -> str:
    """Debian's torch, the training split and train.py (cached by content), also tagged RUNTIME_IMAGE.

    Returns RUNTIME_IMAGE, the name the hand-in's ClusterTrainingRuntime uses.
    """
    digits = mnist.digits(status)
    ref = runtime_ref(digits)
    if not image_exists(ref):
        with status.step(f"Building image {ref}"), tempfile.TemporaryDirectory(dir=paths.work_dir()) as tmp:
            context = Path(tmp) / "context"
            shutil.copytree(RUNTIME_CONTEXT, context, ignore=shutil.ignore_patterns("__pycache__", "test_*.py"))
            shutil.copy2(digits.train.path, context / "train.bin.gz")
            run(["docker", "build", "-t", ref, str(context)], quiet=False)
    run(["docker", "tag", ref, RUNTIME_IMAGE])
    return RUNTIME_IMAGE


# --- the charts -------------------------------------------------------------------------------------


def prepare_chart() -> Path:
    """Kubeflow Trainer's chart from its module, JobSet's chart (also from its module) as its dependency."""
    trainer, jobset = builds.chart_dirs()
    out = paths.work_dir() / "charts" / f"kubeflow-trainer-{versions.KUBEFLOW_TRAINER}"
    if (out / ".complete").exists():
        return out
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(trainer, staging)
    shutil.copytree(jobset, staging / "charts" / "jobset")
    for path in staging.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)  # the module cache is read-only
    chart_yaml = staging / "Chart.yaml"
    chart = yaml.safe_load(chart_yaml.read_text())
    chart["dependencies"] = [d for d in chart.get("dependencies", []) if d["name"] == "jobset"]
    jobset_version = yaml.safe_load((staging / "charts/jobset/Chart.yaml").read_text())["version"]
    if [d["version"] for d in chart["dependencies"]] != [jobset_version]:
        raise KubedefisError(f"the trainer chart wants JobSet {chart['dependencies']}, the module has {jobset_version}")
    chart_yaml.write_text(yaml.safe_dump(chart, sort_keys=False))
    (staging / ".complete").write_text("")
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return out


def split_registry(repository: str) -> tuple[str, str]:
    """`ghcr.io/kubeflow/x` -> (ghcr.io, kubeflow/x); a name without a registry host is Docker Hub's."""
    first, _, rest = repository.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return "docker.io", repository


def chart_values(trainer_image: str, jobset_image: str) -> dict[str, Any]:
    """Values for the trainer chart: these two images, small requests, no upstream runtimes.

    The trainer chart joins registry and repository (and drops docker.io); JobSet's takes the
    repository whole.
    """
    trainer_repo, trainer_tag = trainer_image.rsplit(":", 1)
    trainer_registry, trainer_path = split_registry(trainer_repo)
    jobset_repo, jobset_tag = jobset_image.rsplit(":", 1)
    return {
        "image": {"registry": trainer_registry, "repository": trainer_path, "tag": trainer_tag},
        "manager": {"resources": CONTROLLER_RESOURCES},
        "runtimes": {"defaultEnabled": False},  # upstream's runtimes pull CUDA images and an installer from Docker Hub
        "jobset": {
            "install": True,
            "image": {"repository": jobset_repo, "tag": jobset_tag, "pullPolicy": "IfNotPresent"},
            "controller": {"resources": CONTROLLER_RESOURCES},
        },
    }


# --- install ------------------------------------------------------------------------------------------


def upstream_controllers(local: provider.ClusterSpec | None) -> bool:
    """Whether the controllers are upstream's images: the cluster is the online path's (made from
    upstream's node image), or no local node to load ours into."""
    return local is None or local.node_image == versions.UPSTREAM_NODE_IMAGE


def build_all(status: Status, upstream: bool = False) -> Installed:
    """Every défi 22 artefact (cached): the controllers' images (upstream's refs if `upstream`: nothing
    built), the training image, the chart."""
    controllers = builds.upstream_image_refs() if upstream else builds.build_controller_images(status)
    runtime = build_runtime_image(status)
    prepare_chart()
    return Installed(controllers.trainer, controllers.jobset, runtime)


def install(
    client: kube.Kube, helm: Helm, local: provider.ClusterSpec | None, status: Status, timeout: float
) -> Installed:
    """Build (cached), load into the local node, `helm upgrade --install`, wait for both controllers.

    Online (upstream_controllers), only the training image is ours: the node pulls the controllers.
    """
    upstream = upstream_controllers(local)
    built = build_all(status, upstream)
    if local is not None:
        ours = [built.runtime_image] if upstream else [built.trainer_image, built.jobset_image, built.runtime_image]
        provider.load_images(local, ours, status)
    with status.step(f"Installing Kubeflow Trainer {versions.KUBEFLOW_TRAINER} and JobSet {versions.JOBSET}"):
        helm.upgrade_install(
            prepare_chart(),
            RELEASE,
            NAMESPACE,
            chart_values(built.trainer_image, built.jobset_image),
            timeout=timeout,
            wait=False,  # waited for below, with the pods' state in the timeout's message
        )
        wait_controllers(client, timeout)
    return built


def wait_controllers(client: kube.Kube, timeout: float) -> None:
    for name in (JOBSET_DEPLOYMENT, TRAINER_DEPLOYMENT):
        wait_for(
            f"deployment {NAMESPACE}/{name} to be available",
            lambda name=name: kube.deployment_ready(client, NAMESPACE, name),  # type: ignore[misc]
            timeout=timeout,
            interval=2,
            evidence=lambda: kube.evidence(client, NAMESPACE),
        )
