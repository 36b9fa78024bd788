"""Défi 6 — Helm : the défi 5 stack from `helm install` of our chart, with the database settings in a ConfigMap;
changing a value and upgrading rolls the pods and the new value is in effect."""

from __future__ import annotations

import pytest
from kubernetes.client.exceptions import ApiException

from kubedefis.core import helm, kube, manifests, timeouts
from kubedefis.core.helm import merge_values
from kubedefis.core.tools import find_tool
from kubedefis.harness import checks
from kubedefis.harness import stage as stack
from kubedefis.harness.options import values_files
from kubedefis.harness.static import kubeconform
from kubedefis.harness.target import DATABASE_SETTINGS

LANE = "light"  # a light stage: beside the others (see harness.plugin.lane_of)
PRESET = "defi6"
SIZE = "small"  # checks neither replica counts nor requests


@pytest.fixture(scope="module")
def installed(suite, cluster, namespace, values):
    parts = {name: stack.wait_component(cluster, namespace, suite.target.component(name)) for name in ("api", "public")}
    return values, parts


def _configmap_sourced(container: dict, configmap_keys) -> dict[str, str]:
    """Environment variables of a container (dict) that come from a ConfigMap, and which one.

    `configmap_keys(name)` gives the keys of a ConfigMap (for envFrom), None if there is none.
    """
    sources: dict[str, str] = {}
    for env_from in container.get("envFrom") or []:
        ref = env_from.get("configMapRef")
        if ref:
            for key in configmap_keys(ref.get("name")) or []:
                sources[(env_from.get("prefix") or "") + key] = ref.get("name")
    for env in container.get("env") or []:  # env wins over envFrom for the same name
        ref = (env.get("valueFrom") or {}).get("configMapKeyRef")
        if ref:
            sources[env["name"]] = ref.get("name")
        else:
            sources.pop(env["name"], None)
    return sources


def _database_settings_findings(target, workload: dict, configmap_keys) -> list[checks.Finding]:
    """The pods take every database setting (the target's env names) from a ConfigMap, and none from elsewhere."""
    wanted = [target.database_env[key] for key in DATABASE_SETTINGS]
    sourced: dict[str, str] = {}
    findings = []
    for container in manifests.containers(workload):
        sources = _configmap_sourced(container, configmap_keys)
        sourced.update(sources)
        # a container that sets one of them otherwise (a literal value, a Secret) does not use the ConfigMap
        elsewhere = [e["name"] for e in container.get("env") or [] if e["name"] in wanted and e["name"] not in sources]
        if elsewhere:
            where = f"{manifests.name_of(workload)} container {container.get('name')}"
            findings.append(checks.Finding(where, f"{elsewhere} from a ConfigMap", "set in the pod spec itself"))
    missing = [name for name in wanted if name not in sourced]
    if missing:
        expected = f"{wanted} from a ConfigMap"
        findings.append(
            checks.Finding(
                manifests.name_of(workload), expected, f"{missing} not (ConfigMap-sourced: {sorted(sourced)})"
            )
        )
    return findings


@pytest.mark.needs("list", "secrets")
@pytest.mark.requirement("D6.1", "the stack is a Helm release of the chart")
def test_stack_is_a_helm_release(suite, cluster, namespace, installed):
    releases = cluster.helm().list_releases(namespace)
    assert suite.target.release in releases, (
        f"expected a Helm release {suite.target.release!r} in {namespace}, found {releases}"
    )
    history = cluster.helm().history(suite.target.release, namespace)
    assert history, f"no Helm release {suite.target.release!r} in {namespace}"
    assert history[-1]["status"] == "deployed", history[-1]
    _, parts = installed
    for resolved in parts.values():
        read = (
            cluster.kube.apps.read_namespaced_deployment
            if resolved.kind == "Deployment"
            else cluster.kube.apps.read_namespaced_stateful_set
        )
        meta = read(resolved.name, namespace).metadata
        labels, annotations = meta.labels or {}, meta.annotations or {}
        assert labels.get("app.kubernetes.io/managed-by") == "Helm", f"{resolved.name} is not managed by Helm"
        # Helm writes who owns each object it applies: this release, not another one
        owner = annotations.get("meta.helm.sh/release-name")
        assert owner == suite.target.release, (
            f"{resolved.kind}/{resolved.name}: expected to belong to release {suite.target.release!r}, found {owner!r}"
        )


@pytest.mark.parametrize("component", ["api", "public"])
@pytest.mark.requirement("D6.2", "the pods take their database settings from a ConfigMap")
def test_database_settings_come_from_a_configmap(suite, cluster, namespace, installed, component):
    _, parts = installed
    pods = stack.running_pods(cluster, namespace, parts[component].selector)
    assert pods, f"no running {component} pod"
    cache: dict[str, list[str] | None] = {}

    def keys(name: str) -> list[str] | None:
        if name not in cache:
            try:
                cm = cluster.kube.core.read_namespaced_config_map(name, namespace)
                cache[name] = list(cm.data or {})
            except ApiException as exc:
                if exc.status != 404:
                    raise
                cache[name] = None
        return cache[name]

    findings = [f for pod in pods for f in _database_settings_findings(suite.target, manifests.live(pod), keys)]
    checks.require(f"D6.2 {component}", findings)


@pytest.mark.static
@pytest.mark.requirement("D6.2", "the chart's api and public containers take their database settings from a ConfigMap")
def test_rendered_database_settings_come_from_a_configmap(suite, rendered):
    configmaps = {o["metadata"]["name"]: list(o.get("data") or {}) for o in manifests.find(rendered, "ConfigMap")}
    workloads = {}
    for obj in rendered:
        if obj.get("kind") in ("Deployment", "StatefulSet"):
            key = suite.target.component_of(obj["metadata"]["name"], manifests.pod_labels(obj), ("api", "public"))
            if key:
                workloads.setdefault(key, []).append(obj)
    assert set(workloads) == {"api", "public"}, f"expected the api and public workloads, found {sorted(workloads)}"
    findings = [
        f
        for objs in workloads.values()
        for obj in objs
        for f in _database_settings_findings(suite.target, obj, configmaps.get)
    ]
    checks.require("D6.2 rendered", findings)


@pytest.mark.needs("create", "pods/exec")
@pytest.mark.needs("list", "secrets")
@pytest.mark.requirement("D6.3", "changing a value and upgrading rolls the pods, and the new value is in effect")
def test_upgrade_with_changed_value_rolls_pods(suite, cluster, namespace, installed):
    if suite.target.deployed:
        pytest.skip("grading an existing release: the suite does not upgrade it")
    values, parts = installed
    api = parts["api"]
    before = {p.metadata.name for p in stack.running_pods(cluster, namespace, api.selector)}
    revision = cluster.helm().revision(suite.target.release, namespace).revision
    stack.upgrade(cluster, suite, namespace, merge_values(values, {"django": {"logLevel": "WARNING"}}))
    assert cluster.helm().revision(suite.target.release, namespace).revision == revision + 1
    stack.wait_component(cluster, namespace, suite.target.component("api"), timeouts.ROLLOUT)
    after = [p for p in stack.running_pods(cluster, namespace, api.selector) if kube.pod_ready(p)]
    assert after and not before & {p.metadata.name for p in after}, (
        f"pods were not replaced after the upgrade: before {sorted(before)}, after {[p.metadata.name for p in after]}"
    )
    seen = {stack.pod_env(cluster, namespace, p.metadata.name, "DJANGO_LOG_LEVEL") for p in after}
    assert seen == {"WARNING"}, f"the new value is not in effect: DJANGO_LOG_LEVEL = {seen}"


PRESETS = ["defi5", "defi6", "defi7", "defi10", "defi11", ""]


@pytest.mark.static
@pytest.mark.requirement("D6.4", "the chart lints clean (helm lint --strict) with each défi's values")
@pytest.mark.parametrize("preset", PRESETS)
def test_chart_lints_clean(suite, preset):
    chart = suite.chart_under_test()
    files = values_files(suite, preset)
    output = helm.Helm(find_tool("helm")).lint(chart, files)
    assert "0 chart(s) failed" in output, output


@pytest.mark.static
@pytest.mark.requirement("D6.5", "the chart renders valid Kubernetes objects (kubeconform -strict) for each défi")
@pytest.mark.parametrize("preset", PRESETS)
def test_chart_renders_valid_objects(suite, preset):
    objects = stack.render(suite, preset)
    assert objects, "the chart renders nothing"
    checks.require("D6.5 schema", kubeconform.validate(objects, find_tool("kubeconform")))
