"""The conformance suite's pytest plugin: options, fixtures, requirement markers, evidence.

Registered by the repository's conftest.py. Every setting comes from a flag (or
the target file); the fixtures record what they create and delete only that.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubedefis import kube, paths
from kubedefis.errors import KubedefisError
from kubedefis.harness import permissions as permissions_mod
from kubedefis.harness import target as target_mod
from kubedefis.harness.access import IngressEndpoint
from kubedefis.harness.helm import Helm
from kubedefis.shell import Status, run
from kubedefis.waits import Check, wait_for

RUN_ID = uuid.uuid4().hex[:6]


# pytest-kind (installed with us) already registers --kubeconfig (grade that cluster instead
# of creating one), --cluster-name, --kind-image and --kind-bin: we honour those.
PYTEST_KIND_DEFAULT_NAME = "pytest-kind"


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
    config.addinivalue_line(
        "markers", "needs(verb, resource): a right the test needs in its namespace; skipped when denied"
    )


@dataclass(frozen=True)
class SuiteOptions:
    target: target_mod.Target
    handin: Path
    chart: Path
    values: tuple[Path, ...]
    keep_namespaces: bool
    allow_disruption: bool
    cluster_name: str | None
    chart_named: bool = False  # given with --chart or the target file (not our default)
    handin_named: bool = False  # given with --handin

    def chart_under_test(self) -> Path:
        """The chart the static checks render; grading a deployed stack, only one the target names."""
        if self.target.deployed and not self.chart_named:
            pytest.skip("the target names no chart (chart: and values: in the target file, or --chart/--values)")
        return self.chart


OWN_CHART = paths.REPO_ROOT / "chart"
OWN_HANDIN = paths.REPO_ROOT / "defis"


def _options(config: pytest.Config) -> SuiteOptions:
    opt = config.getoption
    tgt = target_mod.load(Path(opt("--target"))) if opt("--target") else target_mod.Target()
    overrides = {
        "kubeconfig": opt("--kubeconfig"),
        "context": opt("--context"),
        "namespace": opt("--namespace"),
        "release": opt("--release"),
    }
    tgt = target_mod.Target(**{**tgt.__dict__, **{k: v for k, v in overrides.items() if v}})
    if tgt.deployed and not tgt.namespace:
        # grading installs nothing and must touch nothing outside the graded namespace
        raise KubedefisError("a deployed target needs its namespace (namespace: in the target file, or --namespace)")
    return SuiteOptions(
        target=tgt,
        handin=Path(opt("--handin") or OWN_HANDIN),
        chart=Path(opt("--chart") or tgt.chart or OWN_CHART),
        chart_named=bool(opt("--chart") or tgt.chart),
        handin_named=bool(opt("--handin")),
        values=tuple(Path(v) for v in (opt("--values") or tgt.values)),
        keep_namespaces=opt("--keep-namespaces"),
        allow_disruption=opt("--allow-disruption") or not tgt.external,
        cluster_name=None if opt("--cluster-name") == PYTEST_KIND_DEFAULT_NAME else opt("--cluster-name"),
    )


@pytest.fixture(scope="session")
def suite(pytestconfig: pytest.Config) -> SuiteOptions:
    from kubedefis.harness import stack

    try:
        options = _options(pytestconfig)
    except KubedefisError as exc:
        pytest.exit(f"kubedefis: {exc}", returncode=4)
    stack.GRADING_EXISTING_STACK = options.target.deployed
    return options


@dataclass
class ClusterHandle:
    """The cluster under test and the tools to act on it."""

    kube: kube.Kube
    kubectl: Path
    helm_path: Path
    kubeconfig: str
    ingress_address: str
    http_port: int
    https_port: int
    local_spec: object | None  # cluster.ClusterSpec for our kind cluster, None for an external one

    def kubectl_command(self) -> list[str]:
        """kubectl with the flags that point it at this cluster."""
        command = [str(self.kubectl), "--kubeconfig", self.kubeconfig]
        if self.kube.context:
            command += ["--context", self.kube.context]
        return command

    def kubectl_run(self, *args: str, input: str | None = None, check: bool = True) -> str:
        return run([*self.kubectl_command(), *args], input=input, check=check).stdout

    def helm(self) -> Helm:
        return Helm(self.helm_path, self.kubeconfig, self.kube.context)

    def ingress(self, host: str) -> IngressEndpoint:
        return IngressEndpoint(self.ingress_address, self.http_port, self.https_port, host)

    def load_images(self, refs: list[str]) -> None:
        if self.local_spec is None:
            raise KubedefisError("images can only be loaded into the local kind cluster; push them to a registry")
        from kubedefis import cluster

        cluster.load_images(self.local_spec, refs, Status())  # type: ignore[arg-type]


def find_tool(name: str) -> Path:
    """A tool we built (cache), else one on PATH."""
    built = sorted(paths.bin_dir().glob(f"*/{name}"))
    built = [b for b in built if (b.parent / ".complete").exists()]
    if built:
        return built[-1]
    found = shutil.which(name)
    if not found:
        raise KubedefisError(f"{name} not found: run `make up` (it builds it) or install it")
    return Path(found)


@pytest.fixture(scope="session")
def cluster(suite: SuiteOptions) -> ClusterHandle:
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
            )
        from kubedefis import cluster as provider
        from kubedefis.bootstrap import plan

        status = Status()
        spec, tools = plan.cluster_spec(status, suite.cluster_name)
        client = provider.ensure_cluster(spec, status)
        return ClusterHandle(
            client, tools.kubectl, tools.helm, str(spec.kubeconfig), "127.0.0.1", spec.http_port, spec.https_port, spec
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
    manifest = (
        f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n  labels:\n"
        f'    kubedefis.io/run: "{RUN_ID}"\n    kubedefis.io/created-by: conformance\n'
    )
    cluster.kubectl_run("apply", "-f", "-", input=manifest)
    yield name
    _draw_diagram(request.config, cluster, name, request.module.__name__)
    if not suite.keep_namespaces and not os.environ.get("KUBEDEFIS_KEEP_NAMESPACES"):
        # Wait until it is gone: on a small node the next défi's pods only fit once these are.
        delete_namespace(cluster, name)


_DRAWN_MODULES: set[str] = set()


def _draw_diagram(config: pytest.Config, cluster: ClusterHandle, namespace: str, module: str) -> None:
    """With --diagrams, draw the module's stack once; a drawing failure is reported, not fatal."""
    from kubedefis.diagram.snapshot import draw_namespace

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


def delete_namespace(cluster: ClusterHandle, name: str) -> None:
    from kubernetes.client.exceptions import ApiException

    from kubedefis.harness import timeouts

    # The namespace is thrown away: its pods need no graceful stop (preStop sleeps and 40 s grace
    # periods would hold the node's CPU for the next défi). Deleting the namespace removes Helm's
    # release records too: no uninstall needed.
    cluster.kubectl_run("delete", "pods", "--all", "-n", name, "--grace-period=1", "--wait=false", check=False)
    cluster.kubectl_run("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)

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


@pytest.fixture(scope="session")
def handin(suite: SuiteOptions) -> Path:
    """The hand-in folder; grading a deployed stack, only one given with --handin (not ours)."""
    if suite.target.deployed and not suite.handin_named:
        pytest.skip("grading a deployed stack: give the group's hand-in folder with --handin to check it")
    return suite.handin


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        marker = item.get_closest_marker("requirement")
        if marker:
            item.user_properties.append(("requirement", marker.args[0]))
            if len(marker.args) > 1:
                item.user_properties.append(("requirement_text", marker.args[1]))


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
