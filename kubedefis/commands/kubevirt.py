"""`kubedefis kubevirt`: défi 21's artefacts (build) and KubeVirt on the local cluster (install)."""

from __future__ import annotations

import argparse
from typing import Any

from kubedefis.commands import addon
from kubedefis.core import timeouts
from kubedefis.core.shell import Status
from kubedefis.localcluster import engine, plan, provider
from kubedefis.localcluster.lock import build_lock
from kubedefis.stack import kubevirt


def _build(args: argparse.Namespace, status: Status) -> None:
    engine.ensure_docker(status)
    with build_lock(status):
        built = kubevirt.build_all(status)
    print("\n".join([*built.images.all(), built.guest_image]))
    print(f"virtctl: {built.virtctl}")
    print(f"manifests: {built.operator_manifest} {built.cr_manifest}")


def _install(args: argparse.Namespace, status: Status) -> None:
    spec, _ = plan.cluster_spec(status, args.name)
    client = provider.ensure_cluster(spec, status)
    with build_lock(status):
        built = kubevirt.install(client, spec, status, timeouts.KUBEVIRT_INSTALL)
    print(f"export KUBECONFIG={spec.kubeconfig}")
    print(f"images: {'upstream' if built.upstream else 'ours'}, {built.images.operator} ...")
    print(f"virtctl: {built.virtctl}")
    print(f"guest image: {built.guest_image}")


def register(subparsers: Any) -> None:
    """Add `kubedefis kubevirt ...` to the CLI."""
    addon.register(
        subparsers,
        "kubevirt",
        "défi 21: KubeVirt (virtual machines), built offline",
        build=("build KubeVirt's images, virtctl and manifests, offline (cached)", _build),
        install=(
            "install KubeVirt on the local kind cluster (upstream's images if the cluster was made online)",
            _install,
        ),
    )
