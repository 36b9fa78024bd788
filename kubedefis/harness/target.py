"""What the suite grades: which cluster, namespace and release, and how to find each component.

With no target file the suite installs our own stack on the local kind cluster,
one namespace per défi module. A target file points it at a stack that exists
already (a group's namespace on the course cluster, or their own kind cluster).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from kubedefis.errors import KubedefisError


@dataclass(frozen=True)
class Component:
    """How to find one part of the stack: a workload name and/or a pod label selector."""

    selector: str = ""  # pod label selector; the workload and Services are found from it
    name: str = ""  # Deployment/StatefulSet name, when the selector alone is ambiguous
    service: str = ""  # Service name, likewise

    def matches(self, workload_name: str, pod_labels: dict[str, str]) -> bool:
        """Whether a workload is this component: by its name when one is given, else by its pods' labels."""
        if self.name:
            return workload_name == self.name
        pairs = [p.split("=", 1) for p in self.selector.split(",") if p]
        return bool(pairs) and all(len(p) == 2 and pod_labels.get(p[0]) == p[1] for p in pairs)


def _default_components() -> dict[str, Component]:
    """Our stack's components, found by label in the défi's namespace (hand-ins and chart alike)."""
    # database: the primary's workload (the one PostgreSQL of défis 3-11, the primary StatefulSet
    # of défis 12-13); database-replica: the replicas' StatefulSet; cache: Redis (défi 14).
    keys = ("site", "api", "public", "database", "database-replica", "cache")
    by_component = {key: Component(selector=f"app.kubernetes.io/component={key}") for key in keys}
    return {
        "web-nodb": Component(selector="app=web-nodb"),
        "web": Component(selector="app=csc8567"),
        **by_component,
    }


@dataclass(frozen=True)
class Target:
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None  # None: the suite makes one namespace per défi module
    release: str = "kd"
    deployed: bool = False  # True: grade what is there, install nothing
    ingress_host: str | None = None
    ingress_address: str = "127.0.0.1"
    ingress_http_port: int = 8080
    ingress_https_port: int = 8443
    chart: str | None = None  # the stack's Helm chart, for the static checks (relative to the file)
    values: tuple[str, ...] = ()  # its values files, likewise
    components: dict[str, Component] = field(default_factory=_default_components)

    def component(self, key: str) -> Component:
        """A component with the release name filled in."""
        try:
            raw = self.components[key]
        except KeyError as exc:
            raise KubedefisError(f"the target names no component {key!r} (known: {sorted(self.components)})") from exc
        return Component(*(getattr(raw, f.name).replace("{release}", self.release) for f in fields(Component)))

    def component_of(self, workload_name: str, pod_labels: dict[str, str], among: tuple[str, ...]) -> str | None:
        """Which of these components a workload is (rendered or live), None if none."""
        return next((key for key in among if self.component(key).matches(workload_name, pod_labels)), None)

    @property
    def external(self) -> bool:
        """Graded where it stands (not our local cluster)."""
        return self.kubeconfig is not None or self.deployed


def load(path: Path) -> Target:
    """Read and validate a target file; every mistake is named with its key."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError as exc:
        raise KubedefisError(f"target file {path} does not exist") from exc
    except yaml.YAMLError as exc:
        raise KubedefisError(f"target file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise KubedefisError(f"target file {path}: expected a mapping at the top level")
    known = {f.name for f in fields(Target)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise KubedefisError(f"target file {path}: unknown keys {unknown}; known keys: {sorted(known)}")
    values: dict[str, Any] = {}
    for f in fields(Target):
        if f.name not in raw:
            continue
        value = raw[f.name]
        if f.name == "components":
            values[f.name] = {**_default_components(), **_components(path, value)}
        elif f.name in ("ingress_http_port", "ingress_https_port"):
            if not isinstance(value, int) or not 0 < value < 65536:
                raise KubedefisError(f"target file {path}: {f.name} must be a port number, not {value!r}")
            values[f.name] = value
        elif f.name == "values":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise KubedefisError(f"target file {path}: values must be a file name or a list of them, not {value!r}")
            values[f.name] = tuple(str((path.parent / Path(v).expanduser()).resolve()) for v in value)
        elif f.name == "deployed":
            if not isinstance(value, bool):
                raise KubedefisError(f"target file {path}: deployed must be true or false, not {value!r}")
            values[f.name] = value
        else:
            if value is not None and not isinstance(value, str):
                raise KubedefisError(f"target file {path}: {f.name} must be a string, not {value!r}")
            values[f.name] = value
    for key in ("kubeconfig", "chart"):  # relative to the target file
        if values.get(key):
            values[key] = str((path.parent / Path(values[key]).expanduser()).resolve())
    return Target(**values)


def _components(path: Path, value: Any) -> dict[str, Component]:
    if not isinstance(value, dict):
        raise KubedefisError(f"target file {path}: components must be a mapping of name -> {{selector, name, service}}")
    out = {}
    for key, spec in value.items():
        if not isinstance(spec, dict) or set(spec) - {"selector", "name", "service"}:
            raise KubedefisError(
                f"target file {path}: components.{key} takes the keys selector, name and service, got {spec!r}"
            )
        out[key] = Component(**{k: str(v) for k, v in spec.items()})
    return out
