"""The failover writer (défi 13): a pod the runtime could not start is made again; one that fails stops the wait.

CI saw runc fail to start the writer ("unable to freeze") under load: the test then waited 180 s
for rows from a pod that had never run, and reported D13.11 failed.
"""

from __future__ import annotations

from types import SimpleNamespace as Obj
from typing import Any

import pytest

from kubedefis.core.errors import KubedefisError
from kubedefis.core.waits import WaitTimeout
from kubedefis.stack import database as pg

MANIFEST = {"metadata": {"name": "kd-failover-writer"}}


def pod_in(phase: str, reason: str | None = None) -> Obj:
    terminated = Obj(reason=reason, message="runc create failed: unable to freeze") if reason else None
    statuses = [Obj(state=Obj(terminated=terminated))] if reason else []
    return Obj(metadata=Obj(name="kd-failover-writer"), status=Obj(phase=phase, container_statuses=statuses))


class Runtime:
    """Each created pod takes the next fate: ("Running", log) or ("Failed", reason)."""

    def __init__(self, *fates: tuple[str, str | None]) -> None:
        self.fates = list(fates)
        self.created = 0
        self.pod: Obj | None = None
        self.log = ""
        self.core = Obj(
            create_namespaced_pod=self.create,
            read_namespaced_pod=lambda name, ns: self.pod,
            read_namespaced_pod_log=lambda name, ns: self.log,
            delete_namespaced_pod=self.delete,
            list_namespaced_pod=lambda ns, **_: Obj(items=[self.pod] if self.pod else []),
            list_namespaced_event=lambda ns: Obj(items=[]),
        )

    def create(self, ns: str, manifest: dict[str, Any]) -> None:
        phase, detail = self.fates[self.created]
        self.created += 1
        self.pod = pod_in(phase, detail if phase == "Failed" else None)
        self.log = detail or "" if phase == "Running" else ""

    def delete(self, name: str, ns: str, **_: Any) -> None:
        self.pod = None


ROWS = "ok 1\nok 2\nok 3\nok 4\nok 5\n"


def test_a_writer_the_runtime_could_not_start_is_made_again() -> None:
    runtime = Runtime(("Failed", "StartError"), ("Running", ROWS))
    pg.start_writer(runtime, "ns", MANIFEST, timeout=5)  # type: ignore[arg-type]
    assert runtime.created == 2


def test_a_writer_never_started_three_times_is_an_error_naming_the_runtime() -> None:
    runtime = Runtime(*[("Failed", "StartError")] * 3)
    with pytest.raises(KubedefisError, match=r"never started, 3 times.*unable to freeze"):
        pg.start_writer(runtime, "ns", MANIFEST, timeout=5)  # type: ignore[arg-type]


def test_a_writer_that_ran_and_failed_stops_the_wait_at_once_and_is_not_retried() -> None:
    runtime = Runtime(("Failed", "Error"), ("Running", ROWS))
    with pytest.raises(WaitTimeout, match="the writer failed"):
        pg.start_writer(runtime, "ns", MANIFEST, timeout=60)  # type: ignore[arg-type]
    assert runtime.created == 1
