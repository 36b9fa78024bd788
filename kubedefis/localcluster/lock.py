"""One builder at a time: two `make up` (or a test run and a `make up`) share the cache safely;
one loader of images into a cluster at a time (the suite's lanes all start by loading the same ones)."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kubedefis.core import paths
from kubedefis.core.shell import Status


@contextmanager
def build_lock(status: Status) -> Iterator[None]:
    with file_lock(paths.cache_root() / ".build.lock", status, "build"):
        yield


@contextmanager
def file_lock(path: Path, status: Status | None = None, what: str = "") -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if needed), waiting for the process that holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if status is not None:
                status.info(f"another kubedefis {what} holds {path}; waiting for it to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)  # blocks; the other one's results are then reused
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
