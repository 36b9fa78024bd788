"""A class graded in one run, as on the course cluster: five groups, each in its own namespace and
graded through a ServiceAccount kubeconfig limited to that namespace, read-only.

The groups: our défi 2 hand-in, our chart at the défi 11 stage, a student-shaped chart
(tests/harness/otherchart), a group whose namespace does not exist, and a group whose credentials
have no rights at all. Each group's line of class.json is asserted; the student-shaped group is also
graded alone, and its line must be the same (a broken group never changes another's result); the
class is graded one group at a time and two at a time, and both wall times are recorded.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from kubedefis.core import kube, paths, timeouts
from kubedefis.core.shell import Status
from kubedefis.core.waits import wait_for
from kubedefis.harness.plugin import delete_namespace
from kubedefis.stack import deploy, images

LANE = "light"  # a light stage: beside the others (see harness.plugin.lane_of)
DEFIS = "2,5,11"
OTHERCHART = Path(__file__).parent / "otherchart"
GRADER = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: grader}
"""
# What a teacher's credentials hold on the course cluster: reading the group's namespace, and
# port-forwards (no exec, no pod deletion, no proxy): the checks needing more skip with that reason.
READER = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: grader}
rules:
  - apiGroups: ["", apps, batch, discovery.k8s.io, networking.k8s.io, autoscaling, policy]
    resources: [pods, pods/log, events, services, endpoints, endpointslices, deployments, statefulsets, jobs,
                replicasets, persistentvolumeclaims, networkpolicies, horizontalpodautoscalers, ingresses,
                configmaps, secrets, poddisruptionbudgets, serviceaccounts]
    verbs: [get, list, watch]
  - apiGroups: [""]
    resources: [pods/portforward]
    verbs: [create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: grader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: grader}
subjects: [{kind: ServiceAccount, name: grader}]
"""


def grader_kubeconfig(cluster, namespace: str, folder: Path, *, rights: bool = True) -> Path:
    """A kubeconfig holding the token of a ServiceAccount of the namespace (with or without the reader Role)."""
    cluster.kubectl_run("apply", "-n", namespace, "-f", "-", input=GRADER + ("---" + READER if rights else ""))
    token = cluster.kubectl_run("-n", namespace, "create", "token", "grader", "--duration", "1h").strip()
    admin = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "course", "cluster": admin["clusters"][0]["cluster"]}],
        "users": [{"name": "grader", "user": {"token": token}}],
        "contexts": [{"name": "grader", "context": {"cluster": "course", "user": "grader", "namespace": namespace}}],
        "current-context": "grader",
    }
    path = folder / f"{namespace}.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def write_target(folder: Path, group: str, cluster, **fields) -> Path:
    target = {"group": group, "deployed": True, "ingress_http_port": cluster.http_port,
              "ingress_https_port": cluster.https_port, **fields}  # fmt: skip
    path = folder / f"{group}.yaml"
    path.write_text(yaml.safe_dump(target, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def groups(cluster, namespace, tmp_path_factory):
    """Five groups' namespaces and target files (one folder: the class)."""
    folder = tmp_path_factory.mktemp("class")
    created = []

    def make(suffix: str) -> str:
        name = f"{namespace}-{suffix}"[:63]
        cluster.kubectl_run("create", "namespace", name)
        cluster.kubectl_run("label", "namespace", name, "kubedefis.io/created-by=conformance")
        created.append(name)
        return name

    status = Status()
    # our défi 2 hand-in
    d2 = make("d2")
    images.publish([images.web_nodb("v1")], "v1", status, cluster.local_spec)
    cluster.kubectl_run("apply", "-n", d2, "-f", str(paths.REPO_ROOT / "defis/defi2"))
    # our chart at the défi 11 stage
    d11 = make("d11")
    deploy.install(
        deploy.Stage(d11, "kd", values_files=deploy.preset_files("defi11"), size="small"),
        cluster.kube,
        cluster.helm(),
        cluster.local_spec,
        status,
    )
    # a student-shaped chart
    other = make("garage")
    images.publish_stack(status, cluster.local_spec, tag=images.HANDIN_TAG)
    cluster.helm().upgrade_install(OTHERCHART, "garage", other, {"host": f"garage.{other}.localhost"})
    # a group whose credentials have no rights
    norights = make("norights")
    cluster.kubectl_run("apply", "-n", norights, "-f", str(paths.REPO_ROOT / "defis/defi2"))
    wait_for(
        f"the défi 2 pods of {d2}",
        lambda: kube.deployment_ready(cluster.kube, d2, "csc8567"),
        timeout=timeouts.ROLLOUT,
        evidence=lambda: kube.evidence(cluster.kube, d2),
    )

    def target(group: str, ns: str, kubeconfig: Path, **fields) -> Path:
        return write_target(folder, group, cluster, namespace=ns, kubeconfig=str(kubeconfig), **fields)

    targets = {
        "u-d2": target("u-d2", d2, grader_kubeconfig(cluster, d2, folder)),
        "u-d11": target("u-d11", d11, grader_kubeconfig(cluster, d11, folder), release="kd"),
        "u-garage": target(
            "u-garage",
            other,
            grader_kubeconfig(cluster, other, folder),
            release="garage",
            components=yaml.safe_load((OTHERCHART / "target.yaml").read_text())["components"],
        ),
        # its credentials are another group's: the namespace it names does not exist
        "u-missing": target("u-missing", f"{namespace}-missing"[:63], folder / f"{d2}.kubeconfig"),
        "u-norights": target("u-norights", norights, grader_kubeconfig(cluster, norights, folder, rights=False)),
    }
    yield folder, targets
    for name in created:
        delete_namespace(cluster, name)


def grade_class(targets: list[Path], out: Path, concurrency: int) -> tuple[int, float]:
    from kubedefis.commands import grade

    args = [arg for target in targets for arg in ("--target", str(target))]
    start = time.monotonic()
    code = grade.main([*args, "--report-dir", str(out), "--defis", DEFIS, "--concurrency", str(concurrency)])
    return code, time.monotonic() - start


def rows(out: Path) -> dict[str, dict]:
    data = json.loads((out / "class.json").read_text())
    return {row["group"]: row for row in data["groups"]}


def cell(row: dict, defi: int) -> tuple[int, int, int]:
    counts = row["defis"].get(str(defi)) or row["defis"].get(f"defi{defi}") or row["defis"][defi]
    return counts["passed"], counts["failed"], counts["skipped"]


def test_a_class_is_graded_group_by_group(groups, tmp_path, record):
    _, targets = groups
    ordered = [targets[g] for g in ("u-d2", "u-d11", "u-garage", "u-missing", "u-norights")]
    code, sequential = grade_class(ordered, tmp_path / "one-at-a-time", 1)
    record("class_of_5_sequential_s", round(sequential, 1))
    found = rows(tmp_path / "one-at-a-time")
    assert code == 1, "two groups cannot be graded: the class run says so"  # missing namespace, no rights
    details = {g: (r["status"], r.get("reason"), r["defis"]) for g, r in found.items()}
    assert set(found) == {"u-d2", "u-d11", "u-garage", "u-missing", "u-norights"}, details
    # our défi 2 hand-in: défi 2 met (what needs exec or proxy is skipped: the Role has neither);
    # no api/public/database: défi 5's and 11's checks fail
    assert found["u-d2"]["status"] == "graded", details
    passed, failed, _ = cell(found["u-d2"], 2)
    assert passed > 0 and failed == 0, details["u-d2"]
    assert cell(found["u-d2"], 5)[0] == 0 and cell(found["u-d2"], 5)[1] > 0, details["u-d2"]
    # our chart, défi 11 stage: défi 11 met; défi 5 not (one pod per app: the small size)
    assert found["u-d11"]["status"] == "graded", details
    assert cell(found["u-d11"], 11)[1] == 0 and cell(found["u-d11"], 11)[0] > 0, details["u-d11"]
    assert cell(found["u-d11"], 5)[1] > 0, details["u-d11"]
    # the student-shaped chart: what tests/harness/test_other_stack.py asserts of défi 5
    assert found["u-garage"]["status"] == "graded", details
    assert cell(found["u-garage"], 5)[:2] == (2, 2), details["u-garage"]
    # the groups that cannot be graded are lines with their reason, not a stopped run
    for group in ("u-missing", "u-norights"):
        assert found[group]["status"] == "error" and found[group].get("reason"), details[group]
    # alone (a class of one: a folder holding its target file), the student-shaped group gets its line
    solo = tmp_path / "solo"
    solo.mkdir()
    (solo / "u-garage.yaml").write_text(targets["u-garage"].read_text())
    grade_class([solo], tmp_path / "alone", 1)
    alone = rows(tmp_path / "alone")["u-garage"]
    assert alone["defis"] == found["u-garage"]["defis"], (alone["defis"], found["u-garage"]["defis"])
    # two at a time: the same lines
    _, concurrent = grade_class(ordered, tmp_path / "two-at-a-time", 2)
    record("class_of_5_concurrent_2_s", round(concurrent, 1))
    again = rows(tmp_path / "two-at-a-time")
    assert {g: (r["status"], r["defis"]) for g, r in again.items()} == {
        g: (r["status"], r["defis"]) for g, r in found.items()
    }
    page = (tmp_path / "two-at-a-time" / "class.html").read_text()
    assert all(group in page for group in found)
