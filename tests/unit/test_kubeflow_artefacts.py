"""Défi 22's artefacts that need no cluster: the MNIST split, the pin, the chart's values, the hand-in."""

from __future__ import annotations

import gzip
import hashlib

import pytest

from kubedefis.core import manifests, paths
from kubedefis.core.errors import KubedefisError
from kubedefis.stack import kubeflow, mnist


def _class_values(label: int, count: int) -> list[float]:
    """`count` digits of one class, each with its index written in its first pixel (so they are distinct)."""
    values: list[float] = []
    for index in range(count):
        values += [index / 255, label / 255] + [0.0] * (mnist.PIXELS - 2)
    return values


def test_grey_levels_round_trip_the_package_s_three_decimals():
    assert [mnist.grey(v) for v in (0, 0.004, 0.5, 0.992, 1, 1.2, -0.1)] == [0, 1, 128, 253, 255, 255, 0]


def test_class_records_are_label_then_784_grey_levels():
    records = mnist.class_records(3, _class_values(3, 2))
    assert [len(r) for r in records] == [mnist.RECORD, mnist.RECORD]
    assert [r[0] for r in records] == [3, 3]
    assert [r[1] for r in records] == [0, 1]  # the digit's own first pixel


def test_class_records_refuse_a_partial_digit():
    with pytest.raises(KubedefisError, match="not a multiple"):
        mnist.class_records(1, [0.0] * (mnist.PIXELS + 1))


def test_every_fifth_digit_of_each_class_is_held_out_and_the_splits_are_disjoint():
    by_class = {label: mnist.class_records(label, _class_values(label, 10)) for label in range(10)}
    train, held = mnist.split_records(by_class)
    train_records = {train[i : i + mnist.RECORD] for i in range(0, len(train), mnist.RECORD)}
    held_records = [held[i : i + mnist.RECORD] for i in range(0, len(held), mnist.RECORD)]
    assert len(train_records) == 80 and len(held_records) == 20
    assert not train_records.intersection(held_records)
    assert sorted((r[0], r[1]) for r in held_records) == [(c, i) for c in range(10) for i in (4, 9)]


def test_a_tarball_other_than_the_pinned_one_is_refused():
    with pytest.raises(KubedefisError, match="checksum mismatch"):
        mnist.check_tarball(b"not the mnist package")


def test_the_cached_splits_are_disjoint_when_present():
    """On a machine that built défi 22's data: no held-out digit is in the training split."""
    folder = mnist.data_dir()
    if not (folder / "train.bin.gz").exists():
        pytest.skip("the MNIST splits are not built here (kubedefis kubeflow build)")
    train = gzip.decompress((folder / "train.bin.gz").read_bytes())
    held = gzip.decompress((folder / "held-out.bin.gz").read_bytes())
    train_set = {hashlib.sha256(train[i : i + mnist.RECORD]).digest() for i in range(0, len(train), mnist.RECORD)}
    held_list = [hashlib.sha256(held[i : i + mnist.RECORD]).digest() for i in range(0, len(held), mnist.RECORD)]
    assert len(train) // mnist.RECORD + len(held_list) == 10_000
    assert not train_set.intersection(held_list)


def test_chart_values_name_our_images_and_small_requests():
    values = kubeflow.chart_values("kubedefis/trainer-controller-manager:v2.3.0", "kubedefis/jobset:v0.12.0")
    assert values["image"] == {
        "registry": "docker.io",
        "repository": "kubedefis/trainer-controller-manager",
        "tag": "v2.3.0",
    }
    assert values["jobset"]["image"]["repository"] == "kubedefis/jobset"
    assert values["jobset"]["image"]["pullPolicy"] == "IfNotPresent"
    for resources in (values["manager"]["resources"], values["jobset"]["controller"]["resources"]):
        assert manifests.quantity(resources["requests"]["cpu"]) <= manifests.quantity("100m")
    assert values["runtimes"]["defaultEnabled"] is False


def test_the_handin_runtime_uses_the_training_image_and_the_models_claim():
    objects = manifests.load([paths.REPO_ROOT / "defis/defi22"])
    (runtime,) = manifests.find(objects, "ClusterTrainingRuntime")
    (claim,) = manifests.find(objects, "PersistentVolumeClaim")
    (job,) = manifests.find(objects, "TrainJob")
    pod = runtime["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == kubeflow.RUNTIME_IMAGE
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert job["spec"]["runtimeRef"]["name"] == runtime["metadata"]["name"]
    assert job["spec"]["trainer"]["numNodes"] == 2
