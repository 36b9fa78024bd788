import itertools

import pytest

from kubedefis.core.waits import Check, WaitTimeout, wait_for
from kubedefis.harness.access import Response, wait_http


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
    assert info.value.reason == "crash loop"
    # Stopped early for a reason, not by the 60 s deadline: the message must not send a group to raise it.
    assert str(info.value).startswith("gave up after 0s waiting for pod: crash loop; last state: waiting")
    assert "timed out" not in str(info.value)


def test_wait_http_in_a_row_needs_every_answer_of_a_streak_good():
    statuses = iter([200, 503, 200, 200, 200])  # one pod answers, another refuses, then all answer
    asked = []

    def fetch() -> Response:
        asked.append(status := next(statuses))
        return Response(status, {}, b"")

    assert wait_http("readyz", fetch, timeout=10, in_a_row=3).status == 200
    assert asked == [200, 503, 200, 200, 200]


def test_wait_http_in_a_row_times_out_with_the_broken_streak():
    statuses = itertools.cycle([200, 200, 503])
    with pytest.raises(WaitTimeout, match="after 2 good answer"):
        wait_http("readyz", lambda: Response(next(statuses), {}, b""), timeout=2.5, in_a_row=3)
