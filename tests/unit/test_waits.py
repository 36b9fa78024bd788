import itertools

import pytest

from kubedefis.core.waits import Check, WaitTimeout, wait_for


def test_returns_the_value_once_the_condition_holds():
    counter = itertools.count()

    def poll():
        n = next(counter)
        return Check(n >= 2, value=n, state=f"n={n}")

    assert wait_for("n to reach 2", poll, timeout=5, interval=0.01) == 2


def test_timeout_reports_last_state_and_evidence():
    with pytest.raises(WaitTimeout) as info:
        wait_for(
            "never",
            lambda: Check(False, state="still 1/3 ready"),
            timeout=0.05,
            interval=0.01,
            evidence=lambda: "events: BackOff",
        )
    message = str(info.value)
    assert "waiting for never" in message
    assert "still 1/3 ready" in message
    assert "events: BackOff" in message


def test_transient_errors_are_states_not_failures():
    calls = itertools.count()

    def poll():
        if next(calls) == 0:
            raise ConnectionError("API away")
        return Check(True, value="ok")

    assert wait_for("api", poll, timeout=5, interval=0.01) == "ok"


def test_fail_fast_stops_before_the_deadline():
    with pytest.raises(WaitTimeout) as info:
        wait_for(
            "pod",
            lambda: Check(False, value="CrashLoopBackOff", state="waiting"),
            timeout=60,
            interval=0.01,
            fail_fast=lambda c: "crash loop" if c.value == "CrashLoopBackOff" else None,
        )
    assert "crash loop" in str(info.value)
