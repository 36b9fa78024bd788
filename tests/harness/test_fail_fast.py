"""A stage that cannot come up stops within about a minute of its database being up, not Helm's ten (issue 11).

Tried as a new user would: our chart with the database host wrong (`database.host`, a name no
Service has), défi 7's stage. The database comes up; the stage's wait-for-db init containers
(the Deployments' and the migrate Job's) wait on. The installer (kubedefis.stack.deploy, through
kube.why_stuck and its Dependency on the database pods) must say so once the database has been
Ready for the grace that DNS and endpoints need (45 s), long before Helm's own deadline
(timeouts.HELM, 10 minutes), naming the pod and what it printed; and helm must stop then (it ran
on to its timeout under pyhelm3's cancel). A stage with the right host is the other half of the
proof: every lane of the suite installs one.
"""

from __future__ import annotations

import time

import pytest

from kubedefis.core import timeouts
from kubedefis.core.errors import KubedefisError
from kubedefis.core.shell import Status
from kubedefis.stack import deploy

LANE = "light"
# The database's start (about 30 s, 60 s on a loaded node), the grace after it is Ready (45 s), a
# poll: well before Helm's 600 s, and before the migrate Job's first attempt gives up (120 s).
FAIL_FAST_BOUND = 150.0


def test_a_wrong_database_host_fails_the_install_fast_and_says_why(cluster, namespace):
    if cluster.local_spec is None:
        pytest.skip("installs our chart: the local cluster only")
    assert FAIL_FAST_BOUND < timeouts.HELM  # otherwise this proves nothing
    stage = deploy.Stage(
        namespace,
        values_files=deploy.preset_files("defi7"),
        overrides={"database": {"host": "garage-db-wrong"}},
        size="small",
    )
    started = time.monotonic()
    with pytest.raises(KubedefisError) as failure:
        deploy.install(stage, cluster.kube, cluster.helm(), cluster.local_spec, Status())
    elapsed = time.monotonic() - started
    said = str(failure.value)
    assert elapsed < FAIL_FAST_BOUND, f"failed after {elapsed:.0f} s (bound {FAIL_FAST_BOUND:.0f} s): {said}"
    assert "wait-for-db still waits" in said and "became Ready" in said, said
    assert "garage-db-wrong" in said, said  # the attempts' logs name the host that never answered
