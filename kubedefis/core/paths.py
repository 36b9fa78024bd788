"""Where kubedefis keeps what it builds: outside the checkout, so a fresh clone reuses it."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def cache_root() -> Path:
    base = os.environ.get("KUBEDEFIS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kubedefis"
    )
    return Path(base)


def bin_dir() -> Path:
    """Built binaries, one folder per tool and version (the folder is the cache stamp)."""
    return cache_root() / "bin"


def src_dir() -> Path:
    """Generated wrapper modules and unpacked module sources."""
    return cache_root() / "src"


def go_env_dirs() -> dict[str, str]:
    root = cache_root() / "go"
    return {
        "GOMODCACHE": str(root / "mod"),
        "GOCACHE": str(root / "build"),
        "GOPATH": str(root / "path"),
    }


def stamp_dir() -> Path:
    return cache_root() / "stamps"


def work_dir() -> Path:
    return cache_root() / "work"
