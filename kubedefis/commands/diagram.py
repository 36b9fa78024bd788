"""`kubedefis diagram`: draw a namespace from the cluster, or a hand-in from its manifests.

kubedefis diagram --namespace u-42 --kubeconfig course.yaml --output u-42
kubedefis diagram --from-manifests defis/defi2 --output defis/defi2/diagram
helm template kd chart -f values.yaml | kubedefis diagram --from-manifests - --output stack
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from kubedefis.core import kube, manifests
from kubedefis.core.errors import KubedefisError
from kubedefis.diagram import live, render
from kubedefis.diagram.infra import render_objects

USAGE_ERROR = 2


class UsageError(Exception):
    pass


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `diagram` subcommand to the kubedefis command line."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "diagram",
        allow_abbrev=False,
        help="draw the infrastructure of a namespace (or of manifests) as SVG and PNG",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--kubeconfig", help="kubeconfig of the cluster (default: $KUBECONFIG, ~/.kube/config)")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument("--namespace", help="the namespace to draw (required unless --from-manifests)")
    parser.add_argument(
        "--from-manifests",
        metavar="PATH",
        action="append",
        help="draw these YAML files or folders instead of a cluster ('-' reads standard input; repeatable)",
    )
    parser.add_argument("--output", metavar="PATH_PREFIX", help="write PATH_PREFIX.svg and PATH_PREFIX.png")
    parser.add_argument("--title", help="the diagram's title")
    parser.add_argument(
        "--format",
        action="append",
        choices=render.FORMATS,
        help="output format, repeatable (default: svg and png; dot writes the Graphviz source)",
    )
    parser.set_defaults(func=_command)
    return parser


def _command(args: argparse.Namespace, status: object = None) -> None:
    # cli.main ignores the handler's return value: a usage error leaves through SystemExit
    code = draw(args)
    if code:
        raise SystemExit(code)


def draw(args: argparse.Namespace) -> int:
    """Read, lay out and write the diagram; print the files written. KubedefisError passes through."""
    try:
        objects, notes, title, prefix = _gather(args)
    except UsageError as exc:
        print(f"kubedefis diagram: error: {exc}", file=sys.stderr)
        return USAGE_ERROR

    source = render_objects(objects, args.title or title, notes)
    for path in render.write(source, Path(args.output) if args.output else prefix, args.format or ("svg", "png")):
        print(path)
    return 0


def _gather(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[str], str, Path]:
    if args.from_manifests and args.namespace:
        raise UsageError("--namespace reads a cluster and --from-manifests reads files: give one of them")
    if args.from_manifests:
        objects = load_manifests(args.from_manifests)
        names = [Path(p).name if p != "-" else "standard input" for p in args.from_manifests]
        single = Path(args.from_manifests[0])
        prefix = single / "diagram" if len(args.from_manifests) == 1 and single.is_dir() else Path("diagram")
        return objects, [], f"{', '.join(names)} (manifests)", prefix
    if not args.namespace:
        raise UsageError("give --namespace (the namespace to draw) or --from-manifests PATH")

    kubeconfig = args.kubeconfig or (os.environ.get("KUBECONFIG") or "").split(os.pathsep)[0] or None
    client = kube.connect(kubeconfig, args.context)
    objects, notes = live.read_namespace(client, args.namespace)
    title = f"namespace {args.namespace}" + (f" ({args.context})" if args.context else "")
    return objects, notes, title, Path(f"diagram-{args.namespace}")


def load_manifests(paths: list[str]) -> list[dict[str, Any]]:

    objects: list[dict[str, Any]] = []
    for path in paths:
        if path != "-":
            objects += manifests.load([Path(path)])
            continue
        try:
            docs = list(yaml.safe_load_all(sys.stdin.read()))
        except yaml.YAMLError as exc:
            raise KubedefisError(f"standard input is not valid YAML: {exc}") from exc
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "List":
                objects += doc.get("items") or []
            elif isinstance(doc, dict) and doc.get("kind"):
                objects.append(doc)
    return objects
