"""Infrastructure diagrams of a namespace (live) or of a hand-in's manifests, drawn with Graphviz."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kubedefis.diagram.cli import register


def render_objects(objects: list[dict[str, Any]], title: str, notes: Sequence[str] = ()) -> str:
    """The DOT source of the diagram of these objects (manifests, or live objects as dicts)."""
    # imported here: the kubernetes client it needs is slow to import, and `kubedefis --help` should not wait
    from kubedefis.diagram.infra import render_objects as render

    return render(objects, title, notes)


__all__ = ["register", "render_objects"]
