"""`kubedefis release`: build a new version of the site, prove it on staging, then upgrade production (défi 19)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from kubedefis.core import kube
from kubedefis.core.errors import KubedefisError
from kubedefis.core.helm import Helm, load_values, merge_values
from kubedefis.core.shell import Status
from kubedefis.core.tools import find_tool
from kubedefis.localcluster import plan, provider
from kubedefis.localcluster.provider import ClusterSpec
from kubedefis.stack import deploy, images, release


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `release` subcommand to the kubedefis command line."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "release",
        allow_abbrev=False,
        help="install a new version on staging, test it there, and only then upgrade production",
        description=release.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--site-version", default="v2", help="the version of the site's code to build (SITE_VERSION)")
    parser.add_argument("--image-tag", help="use these already pushed images instead of building (kind: built)")
    parser.add_argument("--production-namespace", default="kubedefis")
    parser.add_argument("--staging-namespace", default="kubedefis-staging")
    parser.add_argument("--release", dest="release_name", default="kubedefis", help="Helm release name")
    parser.add_argument("--values", action="append", help="production values files (default: défi 19 + local)")
    parser.add_argument("--suite", action="append", help="conformance modules to run on staging (repeatable)")
    parser.add_argument("--kubeconfig", help="cluster to release on (default: the local kind cluster)")
    parser.add_argument("--context")
    parser.add_argument("--keep-staging", action="store_true", help="leave the staging namespace in place")
    parser.add_argument("--helm-timeout", type=float, default=300, help="seconds for each helm install/upgrade")
    parser.set_defaults(func=_command)
    return parser


def _command(args: argparse.Namespace, status: Status) -> None:
    report = run_release(args, status)
    print(report.text())
    if not report.promoted:
        raise SystemExit(1)


def run_release(args: argparse.Namespace, status: Status) -> release.ReleaseReport:
    start = time.monotonic()
    values = load_values([Path(v) for v in args.values] if args.values else list(release.DEFAULT_VALUES))
    spec: ClusterSpec | None = None
    if args.kubeconfig:
        client = kube.connect(args.kubeconfig, args.context)
        kubeconfig, helm_path, kubectl_path = args.kubeconfig, str(find_tool("helm")), str(find_tool("kubectl"))
    else:
        spec, tools = plan.cluster_spec(status, None)
        client = provider.ensure_cluster(spec, status)
        kubeconfig, helm_path, kubectl_path = str(spec.kubeconfig), str(tools.helm), str(tools.kubectl)
    image_tag = args.image_tag
    if spec is not None:
        # The stack's own images (database, migrations) at the stack tag, the new site at its own.
        values = merge_values(values, {"image": {"tag": images.publish_stack(status, into=spec)}})
        if not image_tag:
            image_tag = images.publish_site_version(args.site_version, status, into=spec)
    if not image_tag:
        raise KubedefisError("--image-tag is needed on a cluster other than the local one (nothing to build into)")
    kubectl = [kubectl_path, "--kubeconfig", kubeconfig, *(["--context", args.context] if args.context else [])]
    workflow = release.ReleaseWorkflow(
        release.ReleasePlan(
            chart=deploy.CHART,
            values=values,
            image_tag=image_tag,
            staging=args.staging_namespace,
            production=args.production_namespace,
            release_name=args.release_name,
            kubeconfig=kubeconfig,
            context=args.context,
            suite=tuple(args.suite or release.DEFAULT_SUITE),
            helm_timeout=args.helm_timeout,
            keep_staging=args.keep_staging,
        ),
        client,
        Helm(Path(helm_path), kubeconfig, args.context),
        kubectl,
        status,
    )
    report = workflow.run()
    status.info(f"release {'promoted' if report.promoted else 'stopped'} after {time.monotonic() - start:.0f}s")
    return report
