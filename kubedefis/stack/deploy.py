"""The one way a stage of the stack is installed: `kubedefis up`, `kubedefis release` and the suite all come here.

A stage is the chart with a défi's values (a preset, then overrides), at a size, in a namespace.
On the local kind cluster our images are built (cached by content), loaded and named in the
values first, and the stage gets an Ingress host of its own. Helm installs and waits; meanwhile
the namespace is watched, so a stage that cannot come up (an image the node lacks, a migration
crash-looping, pods no node can take) stops within about a minute with what was found.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kubedefis.core import kube, paths, timeouts
from kubedefis.core.helm import Helm, load_values, merge_values
from kubedefis.core.shell import Status
from kubedefis.localcluster.provider import ClusterSpec
from kubedefis.stack import images

CHART = paths.REPO_ROOT / "chart"
PRESETS = CHART / "values"
LOCAL_VALUES = PRESETS / "local.yaml"
# The Helm release name of our stack (`kubedefis up`, `kubedefis db`, `kubedefis release`).
HELM_RELEASE = os.environ.get("KUBEDEFIS_HELM_RELEASE", "kubedefis")

Size = Literal["course", "small"]

# "course": the replica counts and requests the course asks for (défis that count pods, scale
# on requests or load the site). "small": one api and one public pod, every pod requesting 20m
# of CPU (limits unchanged, so pods still use what is free), for the défis that check neither
# counts nor requests: on the 2-CPU node several of them then fit side by side, and next to the
# stack `kubedefis up` leaves running.
_LIGHT = {"resources": {"requests": {"cpu": "20m"}}}
SIZES: dict[str, dict[str, Any]] = {
    "course": {},
    "small": {
        "api": {"replicaCount": 1, **_LIGHT},
        "public": {"replicaCount": 1, **_LIGHT},
        "database": _LIGHT,
        "migration": _LIGHT,
        "cache": _LIGHT,
        "hooks": _LIGHT,
        "backup": _LIGHT,
        "replication": {"primary": _LIGHT, "replica": _LIGHT},
    },
}


@dataclass(frozen=True)
class Stage:
    """What to install: a chart, its values files and overrides, at a size, as one Helm release."""

    namespace: str
    release: str = HELM_RELEASE
    chart: Path = CHART
    values_files: tuple[Path, ...] = (LOCAL_VALUES,)
    overrides: Mapping[str, Any] = field(default_factory=dict)
    size: Size = "course"
    timeout: float = timeouts.HELM


def preset_files(preset: str | None, chart: Path = CHART) -> tuple[Path, ...]:
    """A défi's values files in a chart: values/<preset>.yaml (none for the defaults), then values/local.yaml
    where the chart has one (ours does: the local cluster's layer; a group's chart may not)."""
    presets = chart / "values"
    local = presets / "local.yaml"
    return (*([presets / f"{preset}.yaml"] if preset else []), *([local] if local.exists() else []))


@dataclass(frozen=True)
class Installed:
    values: dict[str, Any]  # what Helm was given
    host: str  # the Ingress host the stage answers on


def local_host(namespace: str) -> str:
    """One Ingress host per namespace: two stages claiming one host and path would fight over its routes."""
    return f"django.{namespace}.localhost"


# Our chart's database pods: what its pods' wait-for-db init containers wait for.
DATABASE = kube.Dependency("app.kubernetes.io/component=database")


def install(stage: Stage, client: kube.Kube, helm: Helm, local: ClusterSpec | None, status: Status) -> Installed:
    """Install or upgrade the stage and wait until Helm says it is ready; fail fast when it never will be."""
    # Later layers win: the values files, the size, our images, the stage's own overrides, the host.
    layers: list[Mapping[str, Any]] = [load_values(stage.values_files), SIZES[stage.size]]
    if local is not None:
        # Our images, whatever the chart (a broken copy of ours gets them too).
        tag = images.publish_stack(status, into=local)
        layers.append({"image": {"tag": tag}, "replication": {"image": {"tag": tag}}})
    layers.append(stage.overrides)
    if local is not None:
        layers.append({"ingress": {"host": local_host(stage.namespace)}})
    values = merge_values(*(dict(layer) for layer in layers))

    def give_up() -> str | None:
        try:
            return kube.why_stuck(client, stage.namespace, waited_for=DATABASE)
        except Exception:  # the API briefly away is no reason to stop
            return None

    with status.step(f"helm upgrade --install {stage.release} (namespace {stage.namespace})"):
        helm.upgrade_install(
            stage.chart, stage.release, stage.namespace, values, timeout=stage.timeout, give_up=give_up
        )
    host = (values.get("ingress") or {}).get("host") or ""
    return Installed(values, host)
