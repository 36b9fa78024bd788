"""The conformance suite's pytest plugin: options, fixtures, requirement markers, evidence.

Registered by the repository's conftest.py. Every setting comes from a flag (or
the target file); the fixtures record what they create and delete only that.

A défi module declares its stage and the plugin provides the rest:
    PRESET = "defi13"       # values/<PRESET>.yaml of the chart ("" = the chart's defaults)
    OVERRIDES = {...}       # values on top (optional)
    SIZE = "small"          # "course" (default) or "small" (see kubedefis.stack.deploy.SIZES)
and asks for `stage` (installed, or the group's when grading), `values`, `site_host`, `site`
(the Ingress endpoint serving the site), `rendered` (the chart under test, rendered with the
same values), `record` (a measured figure). Tests marked `disruptive` skip by themselves
without --allow-disruption on an external target.
"""

from __future__ import annotations

import base64
import json
import os
import re
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from kubedefis.core import kube, timeouts
from kubedefis.core.errors import KubedefisError
from kubedefis.core.helm import load_values, merge_values
from kubedefis.core.shell import Status
from kubedefis.core.tools import find_tool
from kubedefis.core.waits import Check, wait_for
from kubedefis.diagram.snapshot import draw_namespace
from kubedefis.harness import alone, leftovers, measures
from kubedefis.harness import permissions as permissions_mod
from kubedefis.harness import stage as stage_mod
from kubedefis.harness.access import IngressEndpoint
from kubedefis.harness.cluster import ClusterHandle
from kubedefis.harness.options import SuiteOptions, from_config, values_files
from kubedefis.localcluster import plan
from kubedefis.localcluster import provider as local_provider
from kubedefis.report import model as report_model
from kubedefis.stack import deploy

RUN_ID = uuid.uuid4().hex[:6]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kubedefis", "kubedefis conformance")
    group.addoption("--target", help="target file (YAML) describing the stack to grade")
    group.addoption("--context", help="kubeconfig context")
    group.addoption("--namespace", help="grade (or install into) this namespace only")
    group.addoption("--release", help="Helm release name (default kd)")
    group.addoption("--handin", help="folder of the défi hand-ins (defiN/); default: ours (defis/)")
    group.addoption("--chart", help="Helm chart to install (défis 6+); default: the target file's, else ours")
    group.addoption(
        "--values", action="append", default=[], help="values file for the chart (repeatable); default: the target's"
    )
    group.addoption("--keep-namespaces", action="store_true", help="do not delete the namespaces the suite made")
    group.addoption(
        "--diagrams",
        metavar="DIR",
        help="draw each défi's stack as DIR/defiN/diagram.svg and .png (the hand-ins' diagrams), before its first"
        " disruptive check or else before its namespace is deleted",
    )
    group.addoption(
        "--allow-disruption",
        action="store_true",
        help="allow destructive checks (pod deletion, load, attacks) on an external target",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requirement(id, text): the défi requirement a test checks")
    config.addinivalue_line("markers", "static: runs without a cluster (rendered manifests only)")
    config.addinivalue_line("markers", "disruptive: deletes pods, loads or attacks the stack")
    config.addinivalue_line("markers", "xdist_group(name): the lane a module runs in with pytest-xdist (lane_of)")
    config.addinivalue_line("markers", "alone: measures latency; the other lanes wait meanwhile (harness.alone)")
    config.addinivalue_line(
        "markers", "needs(verb, resource): a right the test needs in its namespace; skipped when denied"
    )


_OPTIONS = pytest.StashKey[SuiteOptions]()


def suite_options(config: pytest.Config) -> SuiteOptions:
    """The suite's options, read once per session from the flags and the target file."""
    if _OPTIONS not in config.stash:
        try:
            config.stash[_OPTIONS] = from_config(config)
        except KubedefisError as exc:
            pytest.exit(f"kubedefis: {exc}", returncode=4)
    return config.stash[_OPTIONS]


@pytest.fixture(scope="session")
def suite(pytestconfig: pytest.Config) -> SuiteOptions:
    return suite_options(pytestconfig)


@pytest.fixture(scope="session")
def cluster(suite: SuiteOptions) -> Iterator[ClusterHandle]:
    handle = _connect(suite)
    yield handle
    for name in _DELETED:  # the namespaces each module started deleting: gone before the session ends
        wait_namespace_gone(handle, name)


def _connect(suite: SuiteOptions) -> ClusterHandle:
    handle = _handle(suite)
    tgt = suite.target
    if not tgt.namespace:
        _delete_abandoned_namespaces(handle)
    if tgt.deployed and tgt.namespace:
        # Checked once, before any test: a missing namespace or credentials that read nothing are
        # the group's one line ("cannot grade"), not a column of failed requirements.
        problem = permissions_mod.namespace_problem(
            permissions_mod.for_cluster(handle), handle.kube.core, tgt.namespace
        )
        if problem:
            pytest.exit(f"kubedefis: cannot grade: {problem}", returncode=4)
    return handle


def _handle(suite: SuiteOptions) -> ClusterHandle:
    tgt = suite.target
    try:
        if tgt.kubeconfig:
            client = kube.connect(tgt.kubeconfig, tgt.context)
            return ClusterHandle(
                client,
                find_tool("kubectl"),
                find_tool("helm"),
                client.kubeconfig,
                tgt.ingress_address,
                tgt.ingress_http_port,
                tgt.ingress_https_port,
                None,
                grading_existing=tgt.deployed,
            )
        status = Status()
        spec, tools = plan.cluster_spec(status, suite.cluster_name)
        client = local_provider.ensure_cluster(spec, status)
        return ClusterHandle(
            client,
            tools.kubectl,
            tools.helm,
            str(spec.kubeconfig),
            "127.0.0.1",
            spec.http_port,
            spec.https_port,
            spec,
            grading_existing=tgt.deployed,
        )
    except KubedefisError as exc:
        pytest.exit(f"kubedefis: no cluster to test: {exc}", returncode=4)


@pytest.fixture(scope="session")
def permissions(
    request: pytest.FixtureRequest, suite: SuiteOptions, cluster: ClusterHandle
) -> permissions_mod.Permissions:
    """The credentials' rights, asked once at the first test that uses the cluster (reported once)."""
    perms = permissions_mod.for_cluster(cluster)
    needs = permissions_mod.suite_needs(suite.target.namespace, suite.target.deployed)
    request.config.stash[permissions_mod.PRECHECK] = perms.precheck(needs)
    return perms


@pytest.fixture(autouse=True)
def _needed_rights(request: pytest.FixtureRequest) -> None:
    """Skip a test whose `needs(verb, resource)` the credentials lack, in its namespace."""
    if "cluster" not in request.fixturenames:
        return
    perms = request.getfixturevalue("permissions")
    markers = list(request.node.iter_markers("needs"))
    if markers:
        namespace = request.getfixturevalue("namespace")
        for marker in markers:
            verb, resource = marker.args
            permissions_mod.require(perms, verb, resource, namespace)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    precheck = config.stash.get(permissions_mod.PRECHECK, None)
    if precheck is not None and precheck.summary():
        terminalreporter.write_line(f"kubedefis: {precheck.summary()}", yellow=True)


@pytest.fixture(scope="module")
def namespace(request: pytest.FixtureRequest, suite: SuiteOptions, cluster: ClusterHandle) -> Iterator[str]:
    """The target namespace in grading mode; otherwise a fresh one per défi module, deleted after."""
    if suite.target.namespace:
        yield suite.target.namespace
        return
    module = re.sub(r"[^a-z0-9]+", "-", request.module.__name__.rsplit(".", 1)[-1].lower()).strip("-")
    name = f"kd-{module.removeprefix('test-')}-{RUN_ID}"[:63]
    manifest = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {"kubedefis.io/run": RUN_ID, leftovers.CREATED_BY: "conformance"},
            # who owns it: a later run deletes it if this process dies before it does
            "annotations": leftovers.owner_annotations(leftovers.me()),
        },
    }
    cluster.kubectl_run("apply", "-f", "-", input=json.dumps(manifest))
    yield name
    _draw_diagram(request.config, cluster, name, request.module.__name__)
    if not suite.keep_namespaces and not os.environ.get("KUBEDEFIS_KEEP_NAMESPACES"):
        # Not awaited: the next module starts while this one's pods go (their requests are freed
        # within seconds; a stage that must wait for room says so, see kube.why_stuck). The
        # session waits for every namespace it deleted before it ends.
        start_namespace_deletion(cluster, name)
        _DELETED.append(name)


_DELETED: list[str] = []


_DRAWN_MODULES: set[str] = set()


def _draw_diagram(config: pytest.Config, cluster: ClusterHandle, namespace: str, module: str) -> None:
    """With --diagrams, draw the module's stack once; a drawing failure is reported, not fatal."""

    folder_root = config.getoption("--diagrams")
    if not folder_root or module in _DRAWN_MODULES or not re.fullmatch(r"(.*\.)?test_defi\d+", module):
        return  # only the défi modules have a hand-in folder
    _DRAWN_MODULES.add(module)
    folder = Path(folder_root) / module.rsplit(".", 1)[-1].removeprefix("test_")
    title = f"{folder.name}: the kubedefis stack (namespace {namespace}, drawn from the cluster)"
    try:
        draw_namespace(cluster.kube, namespace, folder / "diagram", title)
    except KubedefisError as exc:
        warnings.warn(f"diagram of {namespace} not drawn: {exc}", stacklevel=1)


def _delete_abandoned_namespaces(cluster: ClusterHandle) -> None:
    """Start deleting the namespaces of an earlier run on this host that died (see harness.leftovers)."""
    try:
        found = cluster.kube.core.list_namespace(label_selector=f"{leftovers.CREATED_BY}=conformance").items
    except ApiException:
        return  # credentials that cannot list namespaces: nothing of ours to clean here
    for name in leftovers.abandoned(found, leftovers.me().host):
        warnings.warn(f"deleting namespace {name}, left by a suite run that died", stacklevel=1)
        start_namespace_deletion(cluster, name)


def start_namespace_deletion(cluster: ClusterHandle, name: str) -> None:
    # The namespace is thrown away: its pods need no graceful stop (preStop sleeps and 40 s grace
    # periods would hold the node's CPU for the next défi). Deleting the namespace removes Helm's
    # release records too: no uninstall needed.
    cluster.kubectl_run("delete", "pods", "--all", "-n", name, "--grace-period=1", "--wait=false", check=False)
    cluster.kubectl_run("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def wait_namespace_gone(cluster: ClusterHandle, name: str) -> None:
    def gone() -> Check[None]:
        try:
            ns = cluster.kube.core.read_namespace(name)
        except ApiException as exc:
            if exc.status == 404:
                return Check(True)
            raise
        return Check(False, state=f"namespace {name} is {ns.status.phase}")

    wait_for(
        f"namespace {name} to be deleted",
        gone,
        timeout=timeouts.NAMESPACE_DELETE,
        evidence=lambda: kube.pod_summary(cluster.kube, name),
    )


def delete_namespace(cluster: ClusterHandle, name: str) -> None:
    """Delete a namespace and wait until it is gone."""
    start_namespace_deletion(cluster, name)
    wait_namespace_gone(cluster, name)


@pytest.fixture(scope="session")
def handin(suite: SuiteOptions) -> Path:
    """The hand-in folder; grading a deployed stack, only one given with --handin (not ours)."""
    if suite.target.deployed and not suite.handin_named:
        pytest.skip("grading a deployed stack: give the group's hand-in folder with --handin to check it")
    return suite.handin


# --- a défi module's stage: PRESET, OVERRIDES and SIZE of the module -------------------------------


def _module_stage(module: Any) -> tuple[str, dict[str, Any], deploy.Size]:
    if not hasattr(module, "PRESET"):
        raise pytest.UsageError(f"{module.__name__} asks for the stage but declares no PRESET")
    return module.PRESET, dict(getattr(module, "OVERRIDES", {})), getattr(module, "SIZE", "course")


@dataclass(frozen=True)
class StageInfo:
    """The défi's stage under test: the values it was installed with (ours) or would be, and where it answers."""

    namespace: str
    values: dict[str, Any]
    installed: bool  # False when grading a stack that was already there


@pytest.fixture(scope="module")
def stage_overrides() -> dict[str, Any]:
    """Values that depend on the run (the namespace, the cluster's ports): a module overrides this fixture."""
    return {}


@pytest.fixture(scope="module")
def stage(
    request: pytest.FixtureRequest,
    suite: SuiteOptions,
    cluster: ClusterHandle,
    namespace: str,
    stage_overrides: dict[str, Any],
) -> StageInfo:
    """The module's stage: installed with its PRESET/OVERRIDES/SIZE on our cluster, the group's when grading."""
    if not hasattr(request.module, "PRESET"):  # a hand-in module applies its manifests itself
        return StageInfo(namespace, {}, installed=False)
    preset, overrides, size = _module_stage(request.module)
    overrides = merge_values(overrides, stage_overrides)
    files = values_files(suite, preset)
    if suite.target.deployed:
        return StageInfo(namespace, merge_values(load_values(files), overrides), installed=False)
    installed = deploy.install(
        deploy.Stage(namespace, suite.target.release, suite.chart, files, overrides, size),
        cluster.kube,
        cluster.helm(),
        cluster.local_spec,
        Status(),
    )
    return StageInfo(namespace, installed.values, installed=True)


@pytest.fixture(scope="module")
def values(stage: StageInfo) -> dict[str, Any]:
    """The values of the module's stage (our chart's when grading a group: for reference only)."""
    return stage.values


def ingress_hosts(cluster: ClusterHandle, namespace: str) -> list[str]:
    """The hosts of the namespace's Ingress rules, those routing `/` first."""
    rules = [r for i in cluster.kube.networking.list_namespaced_ingress(namespace).items for r in i.spec.rules or []]
    serves_root = [
        r.host for r in rules if r.host and any(p.path in ("/", None, "") for p in (r.http.paths if r.http else []))
    ]
    others = [r.host for r in rules if r.host and r.host not in serves_root]
    return list(dict.fromkeys(serves_root + others))


@pytest.fixture(scope="module")
def site_host(suite: SuiteOptions, cluster: ClusterHandle, namespace: str, stage: StageInfo) -> str:
    """Where the site answers: the target's ingress_host, else the host of the namespace's Ingress serving `/`."""
    if suite.target.ingress_host:
        return suite.target.ingress_host
    hosts = ingress_hosts(cluster, namespace)
    if not hosts:
        pytest.fail(f"no Ingress with a host rule in {namespace}, and the target names no ingress_host")
    return hosts[0]


API_TOKEN_KEY = "KUBEDEFIS_API_TOKEN"  # the key of our stack's Secret (chart and hand-ins alike)


def find_api_token(suite: SuiteOptions, cluster: ClusterHandle, namespace: str) -> str | None:
    """The bearer token the suite writes with: the Secret the target names, else the first one with our key.

    None when there is none, or the credentials may not read Secrets: writes then go anonymous
    (a group's site may take them so; ours refuses them, and the checks that write say so).
    """
    wanted = suite.target.api_token_secret
    try:
        if wanted:
            name, key = wanted.split("/")
            secrets = [cluster.kube.core.read_namespaced_secret(name, namespace)]
        else:
            key, secrets = API_TOKEN_KEY, cluster.kube.core.list_namespaced_secret(namespace).items
    except ApiException as exc:
        if wanted and exc.status == 404:
            pytest.fail(f"the target's api_token_secret {wanted} does not exist in {namespace}")
        return None
    for secret in secrets:
        if key in (secret.data or {}):
            return base64.b64decode(secret.data[key]).decode()
    if wanted:
        pytest.fail(f"the Secret of the target's api_token_secret has no key {key}")
    return None


@pytest.fixture(scope="module")
def api_token(suite: SuiteOptions, cluster: ClusterHandle, namespace: str) -> str | None:
    """The bearer token writes carry (see find_api_token); ask for it once the stage is in place."""
    return find_api_token(suite, cluster, namespace)


@pytest.fixture(scope="module")
def site(cluster: ClusterHandle, site_host: str, stage: StageInfo, api_token: str | None) -> IngressEndpoint:
    """The site through the Ingress (HTTP and HTTPS on the cluster's Ingress address); writes carry the token."""
    return cluster.ingress(site_host, api_token)


@pytest.fixture(scope="module")
def rendered(request: pytest.FixtureRequest, suite: SuiteOptions) -> list[dict[str, Any]]:
    """The chart under test rendered (`helm template`, hooks and test pods included) with the module's values."""
    preset, overrides, _ = _module_stage(request.module)
    return stage_mod.render(suite, preset, overrides)


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Callable[[str, Any], None]:
    """`record(name, value)`: keep a measured figure of this test (report and reports/measures.jsonl)."""
    return measures.recorder(request)


def pytest_runtest_setup(item: pytest.Item) -> None:
    suite = suite_options(item.config)
    if "handin" in getattr(item, "fixturenames", ()) and suite.target.deployed and not suite.handin_named:
        # Its skip (the handin fixture's) leaves the requirement to the tests of the stack.
        item.user_properties.append((report_model.NOT_GIVEN, True))
    if item.get_closest_marker("disruptive") and not suite.allow_disruption:
        pytest.skip("disturbs the stack (deletes pods, loads or attacks it): needs --allow-disruption")


def lane_of(module: Any) -> str:
    """The lane a module runs in when the suite runs modules side by side (pytest-xdist, --dist loadgroup).

    A module's LANE, else "course" for the stages at the course's size (they count pods, scale on
    requests, or load the site: one at a time, so that what they measure is theirs), else "small".
    The suite's lanes (tox.ini's ci): "course"; "load", small stages that load the site or write
    through a failover (défis 13, 19, 20), one at a time so that two of them never share the node's
    spare CPU; "small", the other small stages and défi 12 (session 14: the load lane was the
    longest); "light", hand-ins, défi 15, the other stacks. (Session 8
    went back to three lanes after two flaky checks under four; both were the suite's bugs, fixed:
    load users sharing a key, défi 3 asking a replica not yet listening.)
    """
    return str(getattr(module, "LANE", "course" if getattr(module, "SIZE", "course") == "course" else "small"))


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the lanes (--dist loadgroup)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = getattr(item, "module", None)
        if module is not None:
            item.add_marker(pytest.mark.xdist_group(lane_of(module)))
        marker = item.get_closest_marker("requirement")
        if marker:
            item.user_properties.append(("requirement", marker.args[0]))
            if len(marker.args) > 1:
                item.user_properties.append(("requirement_text", marker.args[1]))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    # Side by side (pytest-xdist), a test marked `alone` runs while the other lanes wait between tests.
    run_id = getattr(item.config, "workerinput", {}).get("testrunuid")
    if not run_id:
        yield
        return
    with alone.turn(run_id, alone=item.get_closest_marker("alone") is not None) as waited:
        if waited >= 1:  # what the `alone` tests cost the other lanes (reports/measures.jsonl)
            measures.keep(item.nodeid, "lane_wait_seconds", round(waited, 1))
        yield


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    # The stack is drawn whole, before the first check that deletes or loads part of it.
    funcargs = getattr(item, "funcargs", {})
    handle, ns = funcargs.get("cluster"), funcargs.get("namespace")
    if item.get_closest_marker("disruptive") and isinstance(handle, ClusterHandle) and isinstance(ns, str):
        module = getattr(item, "module", None)
        _draw_diagram(item.config, handle, ns, module.__name__ if module else item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    funcargs = getattr(item, "funcargs", {})
    handle, ns = funcargs.get("cluster"), funcargs.get("namespace")
    if isinstance(handle, ClusterHandle) and isinstance(ns, str):
        text = kube.evidence(handle.kube, ns) + "\n" + kube.pod_logs(handle.kube, ns, tail=20)
        report.sections.append(("kubernetes evidence", text))
        item.user_properties.append(("evidence", text[-20000:]))
