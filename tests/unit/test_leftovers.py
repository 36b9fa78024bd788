"""A run deletes only the namespaces of dead runs on its own host (kubedefis.harness.leftovers)."""

import os
import subprocess
import sys
from types import SimpleNamespace

from kubedefis.harness import leftovers


def namespace(name, owner=None, *, created_by="conformance", phase="Active"):
    notes = leftovers.owner_annotations(owner) if owner else None
    meta = SimpleNamespace(name=name, labels={leftovers.CREATED_BY: created_by}, annotations=notes)
    return SimpleNamespace(metadata=meta, status=SimpleNamespace(phase=phase))


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid  # reaped: no process has this pid (until the kernel reuses it)


def test_a_namespace_whose_owner_died_is_abandoned_and_live_ones_are_not():
    me = leftovers.me()
    dead = leftovers.Owner(me.host, dead_pid(), "12345")
    found = leftovers.abandoned(
        [
            namespace("kd-defi9-dead", dead),
            namespace("kd-defi9-live", me),
            namespace("kd-defi9-elsewhere", leftovers.Owner("another-host", dead.pid, "1")),
            namespace("kd-defi9-old-suite"),  # no owner annotations: nothing says it is abandoned
            namespace("kubedefis", dead, created_by="up"),
            namespace("kd-defi9-going", dead, phase="Terminating"),
        ],
        me.host,
    )
    assert found == ["kd-defi9-dead"]


def test_a_reused_pid_is_not_the_owner():
    me = leftovers.me()
    reused = leftovers.Owner(me.host, os.getpid(), "not-my-start-time")
    assert leftovers.abandoned([namespace("kd-x", reused)], me.host) == ["kd-x"]


def test_my_start_time_is_read_from_proc():
    assert leftovers.me().start == leftovers.process_start(os.getpid()) != ""
    assert leftovers.process_start(dead_pid()) is None
