"""Tests that measure latency run alone: the other lanes wait between their tests meanwhile.

With pytest-xdist the suite runs its lanes side by side on a 2-core machine; a p95 measured while
another lane installs a stage measures that install. A test marked `alone` takes the lanes' lock
exclusively; every other test holds it shared for its whole run (setup, call, teardown: a module's
stage is installed in its first test's setup). Writers come first: an `alone` test first takes the
gate, which stops new tests from starting, then waits for the running ones to end (a plain
shared/exclusive lock would let the lanes' back-to-back tests keep it forever).

The lock files belong to one test run (pytest-xdist's run id), in the temporary directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    with path.open("a") as file:
        fcntl.flock(file, mode)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


@contextlib.contextmanager
def turn(run_id: str, *, alone: bool) -> Iterator[float]:
    """Hold the lanes' lock of test run `run_id`: exclusively if `alone`, else shared.

    Gives the seconds the test waited for it (the price of the `alone` tests, for the suite's timing).
    """
    folder = Path(tempfile.gettempdir())
    gate, room = folder / f"kubedefis-{run_id}.gate", folder / f"kubedefis-{run_id}.room"
    asked = time.monotonic()
    with contextlib.ExitStack() as held:
        if alone:
            held.enter_context(_flock(gate, fcntl.LOCK_EX))
            held.enter_context(_flock(room, fcntl.LOCK_EX))
        else:
            with _flock(gate, fcntl.LOCK_EX):  # waits while an `alone` test waits or runs
                held.enter_context(_flock(room, fcntl.LOCK_SH))
        yield time.monotonic() - asked
