"""Finding the command-line tools the project runs (kubectl, helm, kind, kubeconform...)."""

from __future__ import annotations

import shutil
from pathlib import Path

from kubedefis.core import paths
from kubedefis.core.errors import KubedefisError


def find_tool(name: str) -> Path:
    """The newest complete build of ours (the cache), else the one on PATH."""
    built = [b for b in sorted(paths.bin_dir().glob(f"*/{name}")) if (b.parent / ".complete").exists()]
    if built:
        return built[-1]
    found = shutil.which(name)
    if not found:
        raise KubedefisError(f"{name} not found: run `make up` (it builds it) or install it")
    return Path(found)
