"""The lanes' lock: an `alone` test waits for the running tests, and tests that come after it wait for it."""

from __future__ import annotations

import threading
import uuid

from kubedefis.harness import alone

WAIT = 5.0


def hold(run_id: str, is_alone: bool, started: threading.Event, release: threading.Event) -> threading.Thread:
    def body() -> None:
        with alone.turn(run_id, alone=is_alone):
            started.set()
            release.wait(WAIT)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread


def test_lanes_share_and_an_alone_test_has_the_cluster_to_itself():
    run_id = uuid.uuid4().hex
    events = {name: (threading.Event(), threading.Event()) for name in ("lane1", "lane2", "alone", "later")}
    threads = [hold(run_id, False, *events["lane1"])]
    assert events["lane1"][0].wait(WAIT)
    threads.append(hold(run_id, False, *events["lane2"]))
    assert events["lane2"][0].wait(WAIT), "two lanes' tests run side by side"
    threads.append(hold(run_id, True, *events["alone"]))
    assert not events["alone"][0].wait(0.5), "the alone test waits for the running tests"
    threads.append(hold(run_id, False, *events["later"]))
    events["lane1"][1].set()
    assert not events["alone"][0].wait(0.5), "it waits for every running test"
    events["lane2"][1].set()
    assert events["alone"][0].wait(WAIT), "it starts once they ended"
    assert not events["later"][0].is_set(), "a test that came after it waits: writers first"
    events["alone"][1].set()
    assert events["later"][0].wait(WAIT), "the lanes go on after it"
    events["later"][1].set()
    for thread in threads:
        thread.join(WAIT)


def test_a_turn_says_how_long_its_test_waited():
    run_id = uuid.uuid4().hex
    with alone.turn(run_id, alone=False) as waited:
        assert waited < 0.5, "nobody held the lock"
    started, release = threading.Event(), threading.Event()
    holder = hold(run_id, True, started, release)
    assert started.wait(WAIT)
    threading.Timer(0.6, release.set).start()
    with alone.turn(run_id, alone=False) as waited:
        assert 0.5 <= waited < WAIT, f"waited {waited:.2f}s for the alone test's 0.6 s"
    holder.join(WAIT)
