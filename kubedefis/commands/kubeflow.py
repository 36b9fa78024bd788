"""`kubedefis kubeflow`: défi 22's artefacts (build) and Kubeflow Trainer on the local cluster (install)."""

from __future__ import annotations

import argparse
from typing import Any

from kubedefis.commands import addon
from kubedefis.core import timeouts
from kubedefis.core.helm import Helm
from kubedefis.core.shell import Status
from kubedefis.localcluster import engine, plan, provider
from kubedefis.localcluster.lock import build_lock
from kubedefis.stack import kubeflow


def _build(args: argparse.Namespace, status: Status) -> None:
    """Offline, everything; online (KUBEDEFIS_OFFLINE=0, or a registry answers), the training image only."""
    engine.ensure_docker(status)
    with build_lock(status):
        built = kubeflow.build_all(status, upstream=not plan.offline_mode(status))
    print(f"{built.trainer_image}\n{built.jobset_image}\n{built.runtime_image}")


def _install(args: argparse.Namespace, status: Status) -> None:
    spec, tools = plan.cluster_spec(status, args.name)
    client = provider.ensure_cluster(spec, status)
    with build_lock(status):
        built = kubeflow.install(
            client, Helm(tools.helm, str(spec.kubeconfig)), spec, status, timeouts.KUBEFLOW_INSTALL
        )
    print(f"export KUBECONFIG={spec.kubeconfig}")
    mode = "upstream's, pulled by the node" if kubeflow.upstream_controllers(spec) else "built here, loaded"
    print(f"controllers ({mode}): {built.trainer_image}, {built.jobset_image}")
    print(f"training image: {built.runtime_image}")


def register(subparsers: Any) -> None:
    """Add `kubedefis kubeflow ...` to the CLI."""
    addon.register(
        subparsers,
        "kubeflow",
        "défi 22: Kubeflow Trainer, JobSet and the MNIST training image",
        build=("build the controllers' images (offline only) and the training image (cached)", _build),
        install=(
            "install Kubeflow Trainer and JobSet on the local kind cluster (upstream's images if it was made online)",
            _install,
        ),
    )
