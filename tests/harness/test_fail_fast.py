"""A stage that cannot come up stops within about five minutes with what was found, not Helm's ten (issue 11).

Tried as a new user would: our chart with the database host wrong (`database.host`, a name no
Service has), défi 7's stage. The migrate Job's `wait_for_db` gives up after its timeout, twice,
and the installer (kubedefis.stack.deploy, through kube.why_stuck) must say so long before Helm's
own deadline (timeouts.HELM, 10 minutes), naming the Job and what its attempts printed; and helm
must stop then (it ran on to its timeout under pyhelm3's cancel). A stage with the right host is
the other half of the proof: every lane of the suite installs one.
"""

from __future__ import annotations

import time

import pytest

from kubedefis.core import timeouts
from kubedefis.core.errors import KubedefisError
from kubedefis.core.shell import Status
from kubedefis.stack import deploy

LANE = "light"
# Two failed attempts of the migrate Job (its wait_for_db --timeout, migration.waitTimeoutSeconds:
# 120 s each; 10 s back-off between them), the install's own start: well before Helm's 600 s.
FAIL_FAST_BOUND = 330.0


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
    assert "migrate" in said and "attempts failed" in said, said
    assert "garage-db-wrong" in said, said  # the attempts' logs name the host that never answered
