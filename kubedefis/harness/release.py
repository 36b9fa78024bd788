"""Installing and upgrading the chart for défis 12-16 on the local cluster.

`stack.install_chart` builds, tags and loads the images the stack tag covers (site, api,
public, postgres). The later stages need two more things: the Redis image (défi 14), built
here and tagged with the same stack tag, and that tag given to the replication subchart too
(a subchart cannot read its parent's `image.tag`). A chart given with --chart (a broken
copy, in the harness tests) gets the same images and tags.
"""

from __future__ import annotations

from typing import Any

from kubedefis import paths, workloads
from kubedefis.harness import stack, timeouts
from kubedefis.harness.helm import merge_values
from kubedefis.shell import Status, run

REDIS = workloads.WorkloadImage("redis", paths.REPO_ROOT / "workloads/redis")
# Our kind cluster is one node of 2 CPUs, of which the control plane and add-ons request about
# half, shared by every module (and developer) running at the same time: three api and three
# public pods (100m each) beside three database pods do not fit. On it the site runs one pod
# of each and every pod requests 20m of CPU (limits unchanged, so the pods can still use what
# is free); défis 12-16 check neither the counts nor the requests (défis 2 and 5 do).
_LIGHT = {"resources": {"requests": {"cpu": "20m"}}}
SMALL_NODE = {
    "api": {"replicaCount": 1, **_LIGHT},
    "public": {"replicaCount": 1, **_LIGHT},
    "database": _LIGHT,
    "migration": _LIGHT,
    "cache": _LIGHT,
    "hooks": _LIGHT,
    "backup": _LIGHT,
    "replication": {"primary": _LIGHT, "replica": _LIGHT},
}


def local_images(cluster: Any) -> str:
    """Build (cached by content) and load every image of the full stack; returns the stack tag."""
    from kubedefis import stack as local_stack

    tag, refs = local_stack.build_and_tag(Status())
    built = workloads.build(REDIS, Status())
    redis = f"kubedefis/redis:{tag}"
    run(["docker", "tag", built, redis])
    cluster.load_images([*refs, redis])
    return tag


def install(
    cluster: Any,
    suite: Any,
    namespace: str,
    preset: str,
    overrides: dict[str, Any] | None = None,
    timeout: float = timeouts.HELM,
) -> dict[str, Any]:
    """`helm upgrade --install` with the défi's preset; returns the values used (for later upgrades)."""
    extra: dict[str, Any] = {}
    if not suite.target.deployed and cluster.local_spec is not None:
        tag = local_images(cluster)
        extra = merge_values(SMALL_NODE, {"image": {"tag": tag}, "replication": {"image": {"tag": tag}}})
    return stack.install_chart(cluster, suite, namespace, preset, merge_values(extra, overrides or {}), timeout)


def upgrade(cluster: Any, suite: Any, namespace: str, values: dict[str, Any], timeout: float = timeouts.HELM) -> None:
    """`helm upgrade` of the suite's release with these values (raises with Helm's message if it fails)."""
    cluster.helm().upgrade_install(suite.chart, suite.target.release, namespace, values, timeout=timeout)


def fullname(suite: Any) -> str:
    """The chart's resource prefix for the suite's release (kubedefis.fullname without override)."""
    return str(suite.target.release)[:40].rstrip("-")


def helm_binary() -> Any:
    """The helm we built (cache), else one on PATH: the static tier renders without a cluster."""
    import shutil

    from kubedefis.bootstrap import gobuild
    from kubedefis.errors import KubedefisError

    tool = gobuild.tool("helm")
    if tool.built():
        return tool.binary()
    found = shutil.which("helm")
    if not found:
        raise KubedefisError("helm not found: run `make up` (it builds it) or install it")
    return found


def render(
    suite: Any, preset: str, overrides: dict[str, Any] | None = None, *, preset_only: bool = False
) -> list[dict[str, Any]]:
    """`helm template` of the chart under test with the défi's values (hooks and test pods included).

    The values are those given with --values if any, like an install; preset_only renders the
    chart's own preset instead (to compare with another stage, e.g. "défi 11 has no cache").
    Grading a deployed stack whose target names no chart, the calling test is skipped
    (`suite.chart_under_test()`): our own chart is not what is graded.
    """
    from pathlib import Path

    from kubedefis.harness.helm import Helm, load_values

    chart = suite.chart_under_test()
    files = [chart / "values" / f"{preset}.yaml", chart / "values/local.yaml"]
    if preset_only and not files[0].exists():
        import pytest

        pytest.skip(f"{chart} has no values/{preset}.yaml: no earlier stage of this chart to compare with")
    values = merge_values(load_values(files if preset_only else stack.chart_values(suite, preset)), overrides or {})
    return Helm(Path(helm_binary())).template(chart, suite.target.release, values, namespace="kubedefis")


def find(objects: list[dict[str, Any]], kind: str, suffix: str) -> dict[str, Any]:
    """The rendered object of a kind whose name ends with a suffix (names carry the release prefix)."""
    found = [o for o in objects if o.get("kind") == kind and o["metadata"]["name"].endswith(suffix)]
    assert found, f"no {kind} named *{suffix} in the rendered chart ({[checks_name(o) for o in objects]})"
    return found[0]


def checks_name(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """A container's env as name -> value (or the valueFrom mapping)."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env") or []}


def site_database(cluster: Any, namespace: str, suite: Any) -> tuple[str, str]:
    """(database, user) the site uses, from the live ConfigMap (values files may leave them to the defaults)."""
    data = cluster.kube.core.read_namespaced_config_map(f"{fullname(suite)}-config", namespace).data or {}
    return data["POSTGRES_DB"], data["POSTGRES_USER"]
