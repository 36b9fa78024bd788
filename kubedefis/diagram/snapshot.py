"""Draw a namespace the suite deployed, for the hand-ins: `pytest --diagrams defis` writes defisN/diagram.*."""

from __future__ import annotations

from pathlib import Path

from kubedefis.core.kube import Kube
from kubedefis.diagram import live, render
from kubedefis.diagram.infra import render_objects


def draw_namespace(kube: Kube, namespace: str, prefix: Path, title: str) -> list[Path]:
    """SVG and PNG of what runs in `namespace` now; the files written."""
    objects, notes = live.read_namespace(kube, namespace)
    return render.write(render_objects(objects, title, notes), prefix, ("svg", "png"))
