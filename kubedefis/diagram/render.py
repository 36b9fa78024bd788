"""DOT source → SVG / PNG files, with Graphviz's `dot`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kubedefis.core.errors import KubedefisError
from kubedefis.core.shell import require_tool, run

FORMATS = ("svg", "png", "dot")


def write(source: str, prefix: Path, formats: Sequence[str] = ("svg", "png")) -> list[Path]:
    """PREFIX.svg, PREFIX.png (and PREFIX.dot, the source) as asked; the paths written."""
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise KubedefisError(f"unknown diagram format {unknown[0]!r}; choose among {', '.join(FORMATS)}")
    prefix.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        path = prefix.with_name(f"{prefix.name}.{fmt}")
        if fmt == "dot":
            path.write_text(source, encoding="utf-8")
        else:
            dot = require_tool("dot", "install Graphviz (apt-get install graphviz)")
            run([dot, f"-T{fmt}", "-o", str(path)], input=source)
        written.append(path)
    return written
