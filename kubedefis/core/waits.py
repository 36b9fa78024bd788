"""Waiting on a condition with a wall-clock deadline: the one polling loop of the project.

Every wait in kubedefis and the conformance suite goes through `wait_for`, so a
timeout always says what was awaited, for how long, and the last state seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from kubedefis.core.errors import KubedefisError

T = TypeVar("T")


class WaitTimeout(KubedefisError):
    """The condition did not hold before the deadline; `last` is the last state observed.

    `reason` is set when the wait stopped before its deadline because waiting longer could not help
    (a crash loop, a refused key): the message then says so, not "timed out", so that a group is not
    sent to raise a deadline that played no part.
    """

    def __init__(self, what: str, timeout: float, last: str, evidence: str = "", reason: str = "") -> None:
        self.what = what
        self.last = last
        self.evidence = evidence
        self.reason = reason
        if reason:
            message = f"gave up after {timeout:.0f}s waiting for {what}: {reason}; last state: {last}"
        else:
            message = f"timed out after {timeout:.0f}s waiting for {what}; last state: {last}"
        if evidence:
            message += f"\n{evidence}"
        super().__init__(message)


@dataclass
class Check(Generic[T]):
    """What one poll found: whether the condition holds, the value, and a description."""

    done: bool
    value: T | None = None
    state: str = ""


def wait_for(
    what: str,
    poll: Callable[[], Check[T]],
    *,
    timeout: float,
    interval: float = 1.0,
    evidence: Callable[[], str] | None = None,
    fail_fast: Callable[[Check[T]], str | None] | None = None,
) -> T | None:
    """Poll until `poll()` reports done; raise WaitTimeout with the last state and evidence.

    `fail_fast` may return a reason to stop early (a crash-looping pod will not become ready).
    Exceptions raised by `poll` count as a state, not a failure: the API may be briefly away.
    """
    deadline = time.monotonic() + timeout
    last = "not polled yet"
    while True:
        try:
            check = poll()
            last = check.state or ("done" if check.done else "not done")
            if check.done:
                return check.value
            if fail_fast and (reason := fail_fast(check)):
                raise WaitTimeout(
                    what, timeout - (deadline - time.monotonic()), last, evidence() if evidence else "", reason
                )
        except WaitTimeout:
            raise
        except Exception as exc:
            last = f"{type(exc).__name__}: {exc}"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeout(what, timeout, last, evidence() if evidence else "")
        time.sleep(min(interval, remaining))
