"""Défi 6 — Helm : the défi 5 stack from `helm install` of our chart, with the database settings in a ConfigMap;
changing a value and upgrading rolls the pods and the new value is in effect."""

from __future__ import annotations

import pytest

from kubedefis.harness import stack, timeouts

PRESET = "defi6"
DB_SETTINGS = ("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_USER")


@pytest.fixture(scope="module")
def installed(suite, cluster, namespace):
    values = stack.install_chart(cluster, suite, namespace, PRESET)
    parts = {name: stack.wait_component(cluster, namespace, suite.target.component(name)) for name in ("api", "public")}
    return values, parts


def _configmap_keys(cluster, namespace, pod) -> dict[str, str]:
    """Environment variables of the pod's containers that come from a ConfigMap, and which one."""
    sources: dict[str, str] = {}
    for container in pod.spec.containers:
        for env in container.env or []:
            if env.value_from and env.value_from.config_map_key_ref:
                sources[env.name] = env.value_from.config_map_key_ref.name
        for env_from in container.env_from or []:
            if env_from.config_map_ref:
                cm = cluster.kube.core.read_namespaced_config_map(env_from.config_map_ref.name, namespace)
                for key in cm.data or {}:
                    sources[(env_from.prefix or "") + key] = cm.metadata.name
    return sources


@pytest.mark.needs("list", "secrets")
@pytest.mark.requirement("D6.1", "the stack is a Helm release of the chart")
def test_stack_is_a_helm_release(suite, cluster, namespace, installed):
    history = cluster.helm().history(suite.target.release, namespace)
    assert history, f"no Helm release {suite.target.release!r} in {namespace}"
    assert history[-1]["status"] == "deployed", history[-1]
    _, parts = installed
    for resolved in parts.values():
        dep = cluster.kube.apps.read_namespaced_deployment(resolved.name, namespace)
        labels = dep.metadata.labels or {}
        assert labels.get("app.kubernetes.io/managed-by") == "Helm", f"{resolved.name} is not managed by Helm"


@pytest.mark.parametrize("component", ["api", "public"])
@pytest.mark.requirement("D6.2", "the pods take their database settings from a ConfigMap")
def test_database_settings_come_from_a_configmap(cluster, namespace, installed, component):
    _, parts = installed
    pods = stack.running_pods(cluster, namespace, parts[component].selector)
    assert pods, f"no running {component} pod"
    sources = _configmap_keys(cluster, namespace, pods[0])
    missing = [key for key in DB_SETTINGS if key not in sources]
    assert not missing, f"{component}: {missing} do not come from a ConfigMap (ConfigMap-sourced: {sorted(sources)})"


@pytest.mark.needs("create", "pods/exec")
@pytest.mark.needs("list", "secrets")
@pytest.mark.requirement("D6.3", "changing a value and upgrading rolls the pods, and the new value is in effect")
def test_upgrade_with_changed_value_rolls_pods(suite, cluster, namespace, installed):
    if suite.target.deployed:
        pytest.skip("grading an existing release: the suite does not upgrade it")
    _, parts = installed
    api = parts["api"]
    before = {p.metadata.name for p in stack.running_pods(cluster, namespace, api.selector)}
    revision = cluster.helm().revision(suite.target.release, namespace).revision
    stack.install_chart(cluster, suite, namespace, PRESET, overrides={"django": {"logLevel": "WARNING"}})
    assert cluster.helm().revision(suite.target.release, namespace).revision == revision + 1
    stack.wait_component(cluster, namespace, suite.target.component("api"), timeouts.ROLLOUT)
    after = [p for p in stack.running_pods(cluster, namespace, api.selector) if stack.ready(p)]
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
    from kubedefis.harness import helm
    from kubedefis.pytest_plugin import find_tool

    chart = suite.chart_under_test()
    files = stack.chart_values(suite, preset)
    output = helm.Helm(find_tool("helm")).lint(chart, files)
    assert "0 chart(s) failed" in output, output


@pytest.mark.static
@pytest.mark.requirement("D6.5", "the chart renders valid Kubernetes objects (kubeconform -strict) for each défi")
@pytest.mark.parametrize("preset", PRESETS)
def test_chart_renders_valid_objects(suite, preset):
    from kubedefis.harness import checks, helm
    from kubedefis.pytest_plugin import find_tool
    from kubedefis.static import kubeconform

    chart = suite.chart_under_test()
    values = helm.load_values(stack.chart_values(suite, preset))
    objects = helm.Helm(find_tool("helm")).template(chart, suite.target.release, values)
    assert objects, "the chart renders nothing"
    checks.require("D6.5 schema", kubeconform.validate(objects, find_tool("kubeconform")))
