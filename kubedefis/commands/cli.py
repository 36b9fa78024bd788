"""The `kubedefis` command: local cluster, deployment of the stack, grading, diagrams."""

from __future__ import annotations

import argparse
import os
import sys
import time
import typing

from kubedefis.commands import db, diagram, grade, kubeflow, kubevirt, release, up, vm
from kubedefis.core.errors import KubedefisError
from kubedefis.core.shell import Status, run
from kubedefis.localcluster import doctor, engine, gobuild, plan, provider
from kubedefis.localcluster.lock import build_lock
from kubedefis.stack import deploy


def _cluster_build(args: argparse.Namespace, status: Status) -> None:
    engine.ensure_docker(status)
    with build_lock(status):
        node, _ = plan.build_offline(status)
    print(node)


def _cluster_tools(args: argparse.Namespace, status: Status) -> None:
    for name in ("kind", "helm", "kubeconform"):
        print(gobuild.build(gobuild.tool(name), status).binary())


def _cluster_up(args: argparse.Namespace, status: Status) -> None:
    spec, _ = plan.cluster_spec(status, args.name)
    provider.ensure_cluster(spec, status)
    print(f"export KUBECONFIG={spec.kubeconfig}")


def _cluster_down(args: argparse.Namespace, status: Status) -> None:
    # Deleting needs only kind: build nothing else (kind itself is cached after the first run).
    name = args.name or os.environ.get("KUBEDEFIS_CLUSTER", provider.DEFAULT_NAME)
    kind = gobuild.build(gobuild.tool("kind"), status).binary()
    # A stopped engine hides the cluster's node (kind then lists nothing): start it before deciding
    # there is nothing to delete, which said "no kind cluster" and left the cluster in place.
    engine.ensure_docker(status)
    if name not in run([str(kind), "get", "clusters"]).stdout.split():  # a listing that fails raises
        status.info(f"no kind cluster named {name!r}")
        return
    with status.step(f"Deleting kind cluster {name!r}"):
        run([str(kind), "delete", "cluster", "--name", name])


def _up(args: argparse.Namespace, status: Status) -> None:
    url = up.up(status, name=args.name, stage=args.stage, size=args.size)
    print(url)


def build_parser() -> argparse.ArgumentParser:
    """Every command and its options (also what the tests parse the documented command lines with)."""
    parser = argparse.ArgumentParser(prog="kubedefis", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="create the local cluster if needed, deploy the stack, print its URL")
    up.add_argument("--name", help="kind cluster name (default: kubedefis, or $KUBEDEFIS_CLUSTER)")
    up.add_argument("--stage", default="auto", help="what to deploy: defi2, full, or auto (the most complete)")
    up.add_argument(
        "--size",
        choices=typing.get_args(deploy.Size),
        default="small",
        help="the full stack's size: small (one api and one public pod, light requests; the default, it leaves "
        "room for `make test`) or course (the replicas and requests the course asks for)",
    )
    up.set_defaults(func=_up)

    cluster = sub.add_parser("cluster", help="the local kind cluster")
    csub = cluster.add_subparsers(dest="cluster_command", required=True)
    build = csub.add_parser("build", help="build everything the cluster needs, offline (cached)")
    build.set_defaults(func=_cluster_build)
    tools = csub.add_parser("build-tools", help="build only kind, helm and kubeconform (the static tier's tools)")
    tools.set_defaults(func=_cluster_tools)
    cup = csub.add_parser("up", help="create or reuse the cluster and wait until it is ready")
    cup.add_argument("--name")
    cup.set_defaults(func=_cluster_up)
    down = csub.add_parser("down", help="delete the cluster")
    down.add_argument("--name")
    down.set_defaults(func=_cluster_down)

    grade.register(sub)
    diagram.register(sub)
    db.register(sub)
    release.register(sub)
    kubeflow.register(sub)
    kubevirt.register(sub)
    vm.register(sub)
    doctor.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    status = Status()
    start = time.monotonic()
    try:
        args.func(args, status)
    except KubedefisError as exc:
        print(f"kubedefis: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kubedefis: interrupted", file=sys.stderr)
        return 130
    status.info(f"done in {time.monotonic() - start:.0f}s")
    return 0
