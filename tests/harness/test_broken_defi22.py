"""Défi 22: the module fails on a broken Kubeflow or hand-in, each time on the requirement that is broken.

The hand-in variants change the hand-in (its ClusterTrainingRuntime is cluster-wide: the next run
applies its own again), then run the whole module on the local cluster: a full training each
(minutes; `tox -e harness`, or `pytest tests/harness/test_broken_defi22.py`). The grader's own
evaluation is what catches a model not saved or trained on shuffled labels: the job's logs and
metrics look normal in both. D22.1's variant breaks Kubeflow itself, so the module grades the
cluster as a group's (a deployed target: it installs nothing, it checks what is there); Kubeflow is
put back as the module installs it afterwards.

Each run leaves out the module's own extra TrainJobs (D22.6, D22.7) unless they are what it breaks.
"""

from __future__ import annotations

import pytest
import yaml
from requirements import caught
from variants import broken_handin, of_kind

from kubedefis.core import paths, timeouts
from kubedefis.core.helm import merge_values
from kubedefis.core.shell import Status
from kubedefis.stack import kubeflow

TRAIN = ["python3", "/opt/mnist/train.py", "--out", "/models"]
NO_EXTRA_JOBS = "not broken_command and not too_big"


def runtime_pod(runtime):
    return runtime["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]


def single_node(docs):
    """One pod: it completes and its model is good, but nothing was distributed."""
    for job in of_kind(docs, "TrainJob"):
        job["spec"]["trainer"]["numNodes"] = 1


def not_saved(docs):
    """Trains on 2 pods, writes no model."""
    for job in of_kind(docs, "TrainJob"):
        job["spec"]["trainer"]["command"] = [*TRAIN, "--no-save"]


def labels_shuffled(docs):
    """Trains on 2 pods on shuffled labels: Complete, a model saved, and it recognises nothing."""
    for job in of_kind(docs, "TrainJob"):
        job["spec"]["trainer"]["command"] = [*TRAIN, "--shuffle-labels"]


def no_torch_policy(docs):
    """The runtime wires the ranks itself (PET_* from the pod's index and the JobSet's DNS names) instead
    of naming Kubeflow's torch policy: it trains on 2 pods and its model is good, but it is not Kubeflow's
    PyTorch runtime (Kubeflow Trainer treats it as plain ML: no torchrun environment, no PyTorch defaults)."""
    for runtime in of_kind(docs, "ClusterTrainingRuntime"):
        runtime["spec"]["mlPolicy"] = {"numNodes": 2}
        runtime["metadata"].get("labels", {}).pop("trainer.kubeflow.org/framework", None)
        container = runtime_pod(runtime)["containers"][0]
        index = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
        container["env"] += [  # after TRAINJOB_NAME, which PET_MASTER_ADDR refers to
            {"name": "PET_NNODES", "value": "2"},
            {"name": "PET_NPROC_PER_NODE", "value": "1"},
            {"name": "PET_NODE_RANK", "valueFrom": {"fieldRef": {"fieldPath": index}}},
            {"name": "PET_MASTER_ADDR", "value": "$(TRAINJOB_NAME)-node-0-0.$(TRAINJOB_NAME)"},
            {"name": "PET_MASTER_PORT", "value": "29400"},
        ]
    for job in of_kind(docs, "TrainJob"):
        job["spec"]["trainer"].pop("numProcPerNode", None)  # a torch policy's setting


def fails_after_saving(docs):
    """Rank 0 saves a good model, then an export step fails (the image has no ONNX): the job ends Failed.

    Rank 1 has no export step: it ends before rank 0 fails, so both ranks' logs stay (D22.3 holds).
    """
    train = " ".join(TRAIN)
    export = """[ "$PET_NODE_RANK" != 0 ] || python3 -c 'import torch, onnx'"""
    for job in of_kind(docs, "TrainJob"):
        job["spec"]["trainer"]["command"] = ["sh", "-c", f"{train} && {{ {export}; }}"]


def both_ranks_local(train: str) -> str:
    """Shell: ranks 0 and 1 of 2 started side by side in this pod, rendezvous on localhost; fails if either does."""
    local = "PET_NNODES=2 PET_MASTER_ADDR=127.0.0.1"
    return f"{local} PET_NODE_RANK=1 {train} & other=$!; {local} PET_NODE_RANK=0 {train} || exit; wait $other"


def ranks_in_one_pod(docs):
    """One node, both ranks in its pod: the same DDP training of world size 2 (a good model, metrics saying
    2 ranks, Complete), the two processes meeting on localhost. Nothing is distributed over pods: the way
    out of a rendezvous between pods that never worked. The pod gets the CPU and memory of the two."""
    for job in of_kind(docs, "TrainJob"):
        trainer = job["spec"]["trainer"]
        trainer["numNodes"] = 1
        trainer["command"] = ["sh", "-c", both_ranks_local(" ".join(TRAIN))]
        trainer["resourcesPerNode"] = {
            "requests": {"cpu": "1", "memory": "1536Mi"},
            "limits": {"cpu": "2", "memory": "3Gi"},
        }


def ranks_in_pod_zero(docs):
    """Two nodes, but node 0's pod runs both ranks (localhost) and node 1's exits at once: 2 pods, both
    ranks' lines, world size 2, a good model, Complete; the pods never met."""
    for job in of_kind(docs, "TrainJob"):
        local = both_ranks_local(" ".join(TRAIN))
        job["spec"]["trainer"]["command"] = ["sh", "-c", f'[ "$PET_NODE_RANK" != 0 ] || {{ {local}; }}']


def retries_forever(docs):
    """The runtime's Jobs retry a failing pod 100 times (Kubernetes' backoff: minutes): a broken command
    is never reported Failed in time, its pods fail again and again."""
    for runtime in of_kind(docs, "ClusterTrainingRuntime"):
        for replicated in runtime["spec"]["template"]["spec"]["replicatedJobs"]:
            replicated["template"]["spec"]["backoffLimit"] = 100


def cpu_capped(docs):
    """The namespace caps every container at 1 CPU (a LimitRange): a TrainJob asking more is refused pod by
    pod at creation, which only its Job's events say; nothing stays Pending with the scheduler's reason,
    and the TrainJob itself says nothing. Trainings that fit run as before."""
    if not of_kind(docs, "PersistentVolumeClaim"):
        return  # one LimitRange, beside the claim (each file of the hand-in goes through here)
    docs.append(
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": {"name": "one-cpu-per-container"},
            "spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}}]},
        }
    )


@pytest.mark.parametrize(
    "mutate, select",
    [
        pytest.param(single_node, NO_EXTRA_JOBS, marks=pytest.mark.breaks("D22.3", "D22.5"), id="single-node"),
        pytest.param(ranks_in_one_pod, NO_EXTRA_JOBS, marks=pytest.mark.breaks("D22.3"), id="ranks-in-one-pod"),
        pytest.param(ranks_in_pod_zero, NO_EXTRA_JOBS, marks=pytest.mark.breaks("D22.3"), id="ranks-in-pod-zero"),
        pytest.param(not_saved, NO_EXTRA_JOBS, marks=pytest.mark.breaks("D22.5"), id="not-saved"),
        pytest.param(labels_shuffled, NO_EXTRA_JOBS, marks=pytest.mark.breaks("D22.5"), id="labels-shuffled"),
        pytest.param(no_torch_policy, NO_EXTRA_JOBS, marks=pytest.mark.breaks("D22.2"), id="no-torch-policy"),
        pytest.param(fails_after_saving, NO_EXTRA_JOBS, marks=pytest.mark.breaks("D22.4"), id="fails-after-saving"),
        pytest.param(retries_forever, "not too_big", marks=pytest.mark.breaks("D22.6"), id="retries-forever"),
        pytest.param(cpu_capped, "not broken_command", marks=pytest.mark.breaks("D22.7"), id="cpu-capped"),
    ],
)
def test_defi22_catches(mutate, select, request, pytester, tmp_path):
    root = broken_handin(tmp_path, "defi22", mutate)
    caught(request, pytester, "test_defi22.py", "--handin", str(root), "-k", select)


# The JobSet controller upgraded to ask more CPU than the node has: its new pod never schedules, the
# old one serves on (a rolling update keeps it), so trainings still run; the Deployment never
# finishes its rollout. Values a group could give `helm upgrade` on a bigger machine's advice.
UNSCHEDULABLE_CONTROLLER = {
    "jobset": {"controller": {"resources": {"requests": {"cpu": "64"}, "limits": {"cpu": "64"}}}}
}


@pytest.mark.breaks("D22.1")
def test_defi22_catches_a_controller_rollout_that_never_ends(request, cluster, namespace, pytester, tmp_path):
    status = Status()
    built = kubeflow.install(cluster.kube, cluster.helm(), cluster.local_spec, status, timeouts.KUBEFLOW_INSTALL)
    values = kubeflow.chart_values(built.trainer_image, built.jobset_image)
    try:
        cluster.helm().upgrade_install(
            kubeflow.prepare_chart(),
            kubeflow.RELEASE,
            kubeflow.NAMESPACE,
            merge_values(values, UNSCHEDULABLE_CONTROLLER),
            timeout=timeouts.KUBEFLOW_INSTALL,
            wait=False,
        )
        target = tmp_path / "target.yaml"
        target.write_text(yaml.safe_dump({"namespace": namespace, "deployed": True}))
        handin = str(paths.REPO_ROOT / "defis")
        caught(request, pytester, "test_defi22.py", "--target", str(target), "--handin", handin, "-k", NO_EXTRA_JOBS)
    finally:  # Kubeflow as the module installs it: the stuck pod goes, the rollout ends
        kubeflow.install(cluster.kube, cluster.helm(), cluster.local_spec, status, timeouts.KUBEFLOW_INSTALL)
