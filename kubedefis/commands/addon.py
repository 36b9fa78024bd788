"""The shape of a défi's add-on command (`kubedefis kubeflow`, `kubedefis kubevirt`): build, install."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from kubedefis.core.shell import Status

Action = Callable[[argparse.Namespace, Status], None]


def register(
    subparsers: Any, name: str, help_text: str, *, build: tuple[str, Action], install: tuple[str, Action]
) -> None:
    """`kubedefis NAME build` (offline, cached artefacts) and `kubedefis NAME install [--name CLUSTER]`."""
    parser = subparsers.add_parser(name, help=help_text)
    sub = parser.add_subparsers(dest=f"{name}_command", required=True)
    build_parser = sub.add_parser("build", help=build[0])
    build_parser.set_defaults(func=build[1])
    install_parser = sub.add_parser("install", help=install[0])
    install_parser.add_argument("--name", default=os.environ.get("KUBEDEFIS_CLUSTER"), help="kind cluster name")
    install_parser.set_defaults(func=install[1])
