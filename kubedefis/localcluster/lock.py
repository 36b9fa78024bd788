"""One builder at a time: two `make up` (or a test run and a `make up`) share the cache safely."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from kubedefis.core import paths
from kubedefis.core.shell import Status


@contextmanager
def build_lock(status: Status) -> Iterator[None]:
    path = paths.cache_root() / ".build.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            status.info(f"another kubedefis build holds {path}; waiting for it to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)  # blocks; the other build's results are then reused
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
