"""A stage that cannot come up stops within about a minute of its database being up, not Helm's ten (issue 11).

Tried as a new user would: our chart with the database host wrong (`database.host`, a name no
Service has), défi 7's stage. The database comes up; the stage's wait-for-db init containers
(the Deployments' and the migrate Job's) wait on. The installer (kubedefis.stack.deploy, through
kube.why_stuck and its Dependency on the database pods) must say so once the database has been
Ready for the grace that DNS and endpoints need (45 s), long before Helm's own deadline
(timeouts.HELM, 10 minutes), naming the pod and what it printed; and helm must stop then (it ran
on to its timeout under pyhelm3's cancel). A stage with the right host is the other half of the
proof: every lane of the suite installs one.

A hand-in's Job (défis 3-5 apply the group's manifests and wait for their migrations) that cannot
run stops the wait within about a minute too: one no node can hold even once the other lanes'
stages go, one whose image the node lacks. The hand-ins of défis 3-5 that run are the other half.
"""

from __future__ import annotations

import time

import pytest
import yaml

from kubedefis.core import timeouts
from kubedefis.core.errors import KubedefisError
from kubedefis.core.shell import Status
from kubedefis.core.waits import WaitTimeout
from kubedefis.harness import leftovers, stage
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


# A hand-in's Job that will not run: past UNSCHEDULABLE_GRACE (30 s) or at once for a missing image,
# plus polls; the Job wait's own deadline (timeouts.JOB) is 300 s.
HANDIN_JOB_BOUND = 90.0


def _handin_job(name: str, container: dict) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 2,
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "migrate", **container}]}},
        },
    }


@pytest.fixture(scope="module")
def another_lane(cluster, namespace):
    """Another stage of the suite beside this one, as in CI's lanes: room it holds may come, so the
    wait must judge whether that room would be enough, not only that some may come."""
    lane = f"{namespace}-lane"[:63]
    # Labelled and owned as the suite's own namespaces: a run that dies leaves it for the next to delete.
    metadata = {
        "name": lane,
        "labels": {leftovers.CREATED_BY: "conformance"},
        "annotations": leftovers.owner_annotations(leftovers.me()),
    }
    cluster.kube.core.create_namespace({"metadata": metadata})
    yield lane
    cluster.kube.core.delete_namespace(lane)


@pytest.mark.parametrize(
    ("job", "container", "said"),
    [
        # Session 17: a hand-in's migrate Job Pending for CPU held by défi 21's add-ons waited 300 s,
        # because another lane's stage was there and might have made room; none would have.
        (
            "migrate-no-room",
            {"image": "busybox", "imagePullPolicy": "Never", "resources": {"requests": {"cpu": "64"}}},
            ["migrate-no-room", "cannot be scheduled", "Insufficient cpu"],
        ),
        # An image the node lacks never failed the Job (its pod waits, it does not fail): 300 s.
        (
            "migrate-no-image",
            {"image": "kubedefis.invalid/absent:0", "imagePullPolicy": "Never"},
            ["migrate-no-image", "ErrImageNeverPull"],
        ),
    ],
)
def test_a_handin_job_that_cannot_run_fails_fast_and_says_why(
    another_lane, cluster, namespace, tmp_path, job, container, said
):
    assert HANDIN_JOB_BOUND < timeouts.JOB  # otherwise this proves nothing
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(_handin_job(job, container)))
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as failure:
        stage.apply_handin(cluster, namespace, tmp_path)
    elapsed = time.monotonic() - started
    message = str(failure.value)
    print(f"{job}: stopped after {elapsed:.0f} s: {message.splitlines()[0]}")
    assert elapsed < HANDIN_JOB_BOUND, f"failed after {elapsed:.0f} s (bound {HANDIN_JOB_BOUND:.0f} s): {message}"
    assert all(words in message for words in said), message
