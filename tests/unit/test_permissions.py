"""The rights pre-check (SelfSubjectAccessReview) and the `needs` marker, with a fake API server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kubedefis.harness import permissions

PLUGINS = ("-p", "kubedefis.harness.plugin", "-p", "kubedefis.report.pytest_report")


class FakeAuthorization:
    """Answers SelfSubjectAccessReviews: every right is granted but those listed as denied."""

    def __init__(self, denied: set[tuple[str, str, str, str | None]] = frozenset(), fail: bool = False) -> None:  # type: ignore[assignment]
        self.denied = denied
        self.fail = fail
        self.asked: list[tuple[str, str, str, str, str | None]] = []

    def create_self_subject_access_review(self, body: Any) -> Any:
        from types import SimpleNamespace

        a = body.spec.resource_attributes
        self.asked.append((a.verb, a.group, a.resource, a.subresource or "", a.namespace))
        if self.fail:
            raise RuntimeError("the API server is away")
        key = (a.verb, a.resource, a.subresource or "", a.namespace)
        allowed = key not in self.denied
        return SimpleNamespace(status=SimpleNamespace(allowed=allowed, reason="" if allowed else "RBAC: no rule"))


def test_a_review_names_group_resource_subresource_and_namespace():
    api = FakeAuthorization()
    perms = permissions.Permissions(api)
    perms.check("create", "pods/exec", "u-42")
    perms.check("list", "deployments", "u-42")
    perms.check("list", "hpa", "u-42")
    perms.check("create", "namespaces", "u-42")  # cluster-scoped: the namespace is dropped
    assert api.asked == [
        ("create", "", "pods", "exec", "u-42"),
        ("list", "apps", "deployments", "", "u-42"),
        ("list", "autoscaling", "horizontalpodautoscalers", "", "u-42"),
        ("create", "", "namespaces", "", None),
    ]


def test_each_right_is_asked_once():
    api = FakeAuthorization(denied={("delete", "pods", "", "u-42")})
    perms = permissions.Permissions(api)
    first = [perms.check("delete", "pods", "u-42"), perms.check("get", "pods", "u-42")]
    again = [perms.check("delete", "pods", "u-42"), perms.check("get", "pods", "u-42")]
    assert [d.allowed for d in first] == [False, True] and again == first
    assert len(api.asked) == 2
    perms.check("delete", "pods", "u-43")  # another namespace is another question
    assert len(api.asked) == 3


def test_require_skips_with_the_denied_right_as_reason():
    perms = permissions.Permissions(FakeAuthorization(denied={("delete", "pods", "", "u-42")}))
    permissions.require(perms, "get", "pods", "u-42")  # granted: nothing happens
    with pytest.raises(pytest.skip.Exception, match=r"^credentials cannot delete pods in u-42$"):
        permissions.require(perms, "delete", "pods", "u-42")


def test_require_takes_a_cluster_handle_and_keeps_its_cache():
    from types import SimpleNamespace

    api = FakeAuthorization(denied={("create", "pods", "exec", "u-42")})
    cluster = SimpleNamespace(kube=SimpleNamespace(authorization=api))
    for _ in range(2):
        with pytest.raises(pytest.skip.Exception, match="credentials cannot create pods/exec in u-42"):
            permissions.require(cluster, "create", "pods/exec", "u-42")
    assert len(api.asked) == 1


def test_a_review_that_cannot_be_asked_does_not_skip():
    perms = permissions.Permissions(FakeAuthorization(fail=True))
    decision = perms.check("delete", "pods", "u-42")
    assert decision.allowed and decision.unknown and "the API server is away" in decision.reason
    permissions.require(perms, "delete", "pods", "u-42")  # the test runs, and will tell
    result = perms.precheck([permissions.Need.of("delete", "pods", "u-42")])
    assert "1 right(s) could not be checked" in result.summary()


def test_backup_and_failover_rights_are_asked_in_their_api_groups():
    api = FakeAuthorization()
    perms = permissions.Permissions(api)
    perms.check("list", "cronjobs", "u-42")
    perms.check("create", "jobs", "u-42")
    perms.check("patch", "statefulsets/scale", "u-42")
    perms.check("patch", "deployments/scale", "u-42")
    perms.check("delete", "pvc", "u-42")
    assert api.asked == [
        ("list", "batch", "cronjobs", "", "u-42"),
        ("create", "batch", "jobs", "", "u-42"),
        ("patch", "apps", "statefulsets", "scale", "u-42"),
        ("patch", "apps", "deployments", "scale", "u-42"),
        ("delete", "", "persistentvolumeclaims", "", "u-42"),
    ]


def _marked_needs() -> dict[tuple[str, str], list[str]]:
    """Every `@pytest.mark.needs(verb, resource)` of the conformance modules, and where."""
    import ast

    found: dict[tuple[str, str], list[str]] = {}
    for module in sorted((Path(__file__).parents[2] / "conformance").glob("test_*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "needs"
                and ast.unparse(node.func.value) == "pytest.mark"
            ):
                verb, resource = (ast.literal_eval(a) for a in node.args)
                found.setdefault((verb, resource), []).append(f"{module.name}:{node.lineno}")
    return found


def test_the_precheck_asks_every_right_a_conformance_check_declares():
    marked = _marked_needs()
    assert ("create", "pods/exec") in marked and ("list", "cronjobs") in marked  # the scan sees the markers
    asked = {(n.verb, n.resource) for n in permissions.suite_needs("u-42", deployed=True)}
    missing = {
        f"{verb} {resource}": where
        for (verb, resource), where in marked.items()
        if (verb, permissions.Need.of(verb, resource).resource) not in asked
    }
    assert not missing, f"rights declared by checks but not asked at session start: {missing}"


def test_each_right_is_in_the_precheck_once():
    needs = permissions.suite_needs(None, deployed=False)
    assert len(needs) == len(set(needs))  # create configmaps: an action of the suite and of helm install


def test_an_unknown_resource_is_a_mistake_of_the_suite():
    with pytest.raises(ValueError, match="unknown resource 'pod'"):
        permissions.Need.of("get", "pod", "u-42")


def test_grading_a_namespace_asks_nothing_cluster_wide_and_nothing_to_install():
    needs = permissions.suite_needs("u-42", deployed=True)
    assert all(n.namespace == "u-42" for n in needs)
    described = {n.describe() for n in needs}
    assert {"create pods in u-42", "create pods/exec in u-42", "delete pods in u-42", "get pods/log in u-42"} <= (
        described
    )
    assert "create secrets in u-42" not in described  # helm install: only when the suite installs
    local = {n.describe() for n in permissions.suite_needs(None, deployed=False)}
    assert {"create namespaces", "delete namespaces", "create secrets in every namespace"} <= local


def test_the_summary_lists_the_denied_rights_once():
    api = FakeAuthorization(denied={("delete", "pods", "", "u-42"), ("create", "pods", "exec", "u-42")})
    result = permissions.Permissions(api).precheck(permissions.suite_needs("u-42", deployed=True))
    assert result.summary() == (
        "the credentials cannot delete pods in u-42, create pods/exec in u-42: the checks that need it are skipped"
    )
    assert result.as_dict()["denied"] == ["delete pods in u-42", "create pods/exec in u-42"]
    assert permissions.Permissions(FakeAuthorization()).precheck(permissions.suite_needs("u-42", True)).summary() == ""


# --- the suite plugin, in a child session with a fake cluster ------------------------------------

FAKE_CLUSTER = """
import json
from types import SimpleNamespace

import pytest
from kubernetes.client.exceptions import ApiException

import fake_api

CALLS = []


class FakeCore:
    def read_namespace(self, name):
        raise ApiException(status=404)

    def list_namespaced_pod(self, namespace, **kw):
        return SimpleNamespace(items=[])


class FakeCluster:
    def __init__(self):
        self.kube = SimpleNamespace(
            authorization=fake_api.API,
            core=FakeCore(),
            context=None,
            api_client=SimpleNamespace(configuration=SimpleNamespace(host="https://fake:6443")),
        )

    def kubectl_run(self, *args, input=None, check=True):
        CALLS.append(list(args))
        return ""


@pytest.fixture(scope="session")
def cluster():
    return FakeCluster()


def pytest_sessionfinish(session):
    with open("calls.json", "w") as f:
        json.dump({"kubectl": CALLS, "reviews": fake_api.API.asked}, f)
"""

SUITE = """
import pytest

@pytest.mark.needs("delete", "pods")
@pytest.mark.requirement("D7.4", "rows survive the deletion of the database pod")
def test_deletes_a_pod(cluster, namespace):
    print("RAN test_deletes_a_pod")

@pytest.mark.needs("create", "pods/exec")
def test_execs(cluster, namespace):
    pass

def test_reads(cluster, namespace):
    print("NAMESPACE", namespace)

@pytest.mark.static
def test_static():
    pass
"""


def _child(pytester: pytest.Pytester, denied: set[tuple[str, str, str, str | None]], *args: str) -> Any:
    pytester.syspathinsert()
    pytester.makepyfile(
        fake_api=f"import fake_authorization as f\nAPI = f.FakeAuthorization(denied={denied!r})\n",
        fake_authorization=Path(__file__).read_text(),  # this module, under a name pytest does not collect
    )
    pytester.makeconftest(FAKE_CLUSTER)
    pytester.makepyfile(test_defi7=SUITE)
    return pytester.runpytest(*PLUGINS, "-s", "-p", "no:cacheprovider", *args)


def _calls(pytester: pytest.Pytester) -> dict[str, Any]:
    return json.loads((pytester.path / "calls.json").read_text())


def test_a_denied_right_skips_the_tests_that_declare_it_and_is_reported_once(pytester: pytest.Pytester):
    target = pytester.path / "u-42.yaml"
    target.write_text("namespace: u-42\ndeployed: true\n")
    report_dir = pytester.path / "report"
    result = _child(
        pytester, {("delete", "pods", "", "u-42")}, "--target", str(target), "--report-dir", str(report_dir), "-rs"
    )
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines(["*SKIPPED*credentials cannot delete pods in u-42*"])
    lines = [line for line in result.outlines if "kubedefis: the credentials cannot" in line]
    assert lines == ["kubedefis: the credentials cannot delete pods in u-42: the checks that need it are skipped"]
    report = json.loads((report_dir / "report.json").read_text())
    assert report["header"]["permissions"]["denied"] == ["delete pods in u-42"]
    skipped = next(t for t in report["tests"] if t["nodeid"].endswith("test_deletes_a_pod"))
    assert skipped["outcome"] == "skipped" and skipped["skip_reason"] == "credentials cannot delete pods in u-42"
    calls = _calls(pytester)
    # grading mode: no namespace made or deleted, nothing asked outside u-42
    assert calls["kubectl"] == []
    assert {r[4] for r in calls["reviews"]} == {"u-42"}
    assert "NAMESPACE u-42" in result.stdout.str() and "RAN test_deletes_a_pod" not in result.stdout.str()


def test_a_static_run_asks_nothing(pytester: pytest.Pytester):
    target = pytester.path / "u-42.yaml"
    target.write_text("namespace: u-42\ndeployed: true\n")
    _child(pytester, set(), "--target", str(target), "-m", "static").assert_outcomes(passed=1, deselected=3)
    assert _calls(pytester) == {"kubectl": [], "reviews": []}


def test_without_a_target_the_suite_makes_and_deletes_its_own_namespace(pytester: pytest.Pytester):
    result = _child(pytester, set())
    result.assert_outcomes(passed=4)
    assert "RAN test_deletes_a_pod" in result.stdout.str()
    kubectl = _calls(pytester)["kubectl"]
    assert [c[0] for c in kubectl] == ["apply", "delete", "delete"], kubectl
    # its pods first (cut short: the namespace is thrown away), then the namespace itself
    namespace = kubectl[2][2]
    assert kubectl[1][:3] == ["delete", "pods", "--all"] and kubectl[1][4] == namespace, kubectl
    assert kubectl[2][:2] == ["delete", "namespace"] and namespace.startswith("kd-defi7-"), kubectl


def test_a_deployed_target_without_a_namespace_is_refused(pytester: pytest.Pytester):
    target = pytester.path / "t.yaml"
    target.write_text("deployed: true\n")
    result = _child(pytester, set(), "--target", str(target))
    assert result.ret == 4
    result.stdout.fnmatch_lines(["*a deployed target needs its namespace*"])
    assert _calls(pytester)["kubectl"] == []


class FakeCore:
    """read_namespace answering with an HTTP status (200: the namespace)."""

    def __init__(self, status: int) -> None:
        self.status = status

    def read_namespace(self, name: str) -> Any:
        from kubernetes.client.exceptions import ApiException

        if self.status != 200:
            raise ApiException(status=self.status, reason="fake")
        return {"metadata": {"name": name}}


@pytest.mark.parametrize(
    "namespace_status, denied, problem",
    [
        (200, set(), None),
        (403, set(), None),  # a namespace-limited account may not read Namespaces: its rights decide
        (404, set(), "namespace u-42 does not exist"),
        (403, {("list", "pods", "", "u-42")}, "cannot list pods in namespace u-42 (no Role bound there, or"),
        (200, {("list", "pods", "", "u-42")}, "cannot list pods in namespace u-42"),
        (500, set(), "cannot read namespace u-42: ApiException"),
    ],
)
def test_a_namespace_that_cannot_be_graded_says_why(namespace_status, denied, problem):
    perms = permissions.Permissions(FakeAuthorization(denied=denied))
    found = permissions.namespace_problem(perms, FakeCore(namespace_status), "u-42")
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found, found
