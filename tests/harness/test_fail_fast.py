"""A stage that cannot come up stops within four minutes with what was found, not Helm's ten (issue 11).

Tried as a new user would: our chart with the database host wrong (`database.host`, a name no
Service has). The migrate Job's `wait_for_db` gives up on a name that does not resolve, the site's
pods run without ever being Ready, and the installer (kubedefis.stack.deploy, through
kube.why_stuck) must say so long before Helm's own deadline (timeouts.HELM, 10 minutes), naming
the Job and what its attempts printed. A stage with the right host is the other half of the proof:
every lane of the suite installs one.
"""

from __future__ import annotations

import time

import pytest

from kubedefis.core import timeouts
from kubedefis.core.errors import KubedefisError
from kubedefis.core.shell import Status
from kubedefis.stack import deploy

LANE = "light"
# Two failed attempts of the migrate Job (90 s each on a name that does not resolve, wait_for_db's
# --unresolved-timeout; 10 s back-off between them), the install's own start: well before Helm's 600 s.
FAIL_FAST_BOUND = 240.0


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
    assert "garage-db-wrong" in said and "does not resolve" in said, said
