"""Défi 22's controllers, offline: Kubeflow Trainer and JobSet from their Go modules, as images on trixie-slim.

Built only when défi 22 asks for them (`kubedefis kubeflow`, the défi 22 module), never by `make up`:
two `go install` of about 5 minutes each on 2 cores, cached like every other Go tool (the output
folder is the stamp). Each module is built with its own go.mod (no replace directives, no cgo), so
the dependency versions are the ones upstream tested. Upstream's images run `/manager` as a non-root
user; ours are the same shape, so the charts from the module zips run them unchanged.

Online (a cluster made from upstream's node image), upstream's images are used instead
(`upstream_image_refs`) and nothing is built here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kubedefis.core import versions
from kubedefis.core.shell import Status
from kubedefis.localcluster import gobuild
from kubedefis.localcluster.components import ImageSpec, build_image

TRAINER_MODULE = "github.com/kubeflow/trainer/v2"
JOBSET_MODULE = "sigs.k8s.io/jobset"
NONROOT = "65532:65532"  # the user of upstream's distroless images

TRAINER = gobuild.GoTool(
    "trainer-controller-manager",
    TRAINER_MODULE,
    versions.KUBEFLOW_TRAINER,
    (f"{TRAINER_MODULE}/cmd/trainer-controller-manager",),
)
# `go install sigs.k8s.io/jobset@v0.12.0` asks the proxy for the module's version list (its deprecation
# check), which the proxy refuses (403): build it from its source instead, with its own go.mod.
JOBSET = gobuild.GoTool("jobset", JOBSET_MODULE, versions.JOBSET, (".",), how="source")


@dataclass(frozen=True)
class KubeflowImages:
    trainer: str
    jobset: str

    def all(self) -> list[str]:
        return [self.trainer, self.jobset]


def image_refs() -> KubeflowImages:
    return KubeflowImages(
        trainer=f"kubedefis/trainer-controller-manager:{versions.KUBEFLOW_TRAINER}",
        jobset=f"kubedefis/jobset:{versions.JOBSET}",
    )


def upstream_image_refs() -> KubeflowImages:
    """The images upstream publishes (the online path pulls them): the trainer chart's default image, and
    JobSet's release image (Kubeflow's own manifests rename JobSet's staging image to it,
    manifests/third-party/jobset; the chart in the module zip still names the staging one)."""
    return KubeflowImages(
        trainer=f"ghcr.io/kubeflow/trainer/trainer-controller-manager:{versions.KUBEFLOW_TRAINER}",
        jobset=f"registry.k8s.io/jobset/jobset:{versions.JOBSET}",
    )


def image_specs(trainer: Path, jobset: Path) -> list[ImageSpec]:
    refs = image_refs()
    return [
        ImageSpec(refs.trainer, {"/manager": trainer}, entrypoint=("/manager",), user=NONROOT),
        ImageSpec(refs.jobset, {"/manager": jobset}, entrypoint=("/manager",), user=NONROOT),
    ]


def chart_dirs() -> tuple[Path, Path]:
    """The Helm charts shipped in the module zips: Kubeflow Trainer's and JobSet's (its dependency)."""
    trainer = gobuild.module_dir(TRAINER_MODULE, versions.KUBEFLOW_TRAINER) / "charts/kubeflow-trainer"
    jobset = gobuild.module_dir(JOBSET_MODULE, versions.JOBSET) / "charts/jobset"
    return trainer, jobset


def build_controller_images(status: Status) -> KubeflowImages:
    """Both controllers built with Go (cached) and packaged; returns their image refs."""
    trainer = gobuild.build(TRAINER, status).binary()
    jobset = gobuild.build(JOBSET, status).binary()
    for spec in image_specs(trainer, jobset):
        build_image(spec, status)
    return image_refs()
