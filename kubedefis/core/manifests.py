"""Kubernetes objects as plain dicts: read and apply manifests, and the facts every layer reads from them.

A hand-in's YAML, a rendered chart and a live object (`live()`) are the same dicts here: their pod
spec, containers, pod labels, and the one label-selector matcher (`selects`) for a Service's
selector, a workload's LabelSelector, a NetworkPolicy's podSelector and the `k=v` text of a
target file or kubectl.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from kubernetes.client import ApiClient
from kubernetes.utils.quantity import parse_quantity

from kubedefis.core.errors import CommandError, KubedefisError
from kubedefis.core.shell import run
from kubedefis.core.waits import Check, wait_for

Obj = dict[str, Any]
_SERIALIZER = ApiClient()


def load(paths: list[Path]) -> list[dict[str, Any]]:
    """Every object in the given YAML files (folders: their *.yaml and *.yml files, sorted)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
        elif path.exists():
            files.append(path)
        else:
            raise KubedefisError(f"manifest {path} does not exist")
    objects = []
    for file in files:
        try:
            docs = list(yaml.safe_load_all(file.read_text()))
        except yaml.YAMLError as exc:
            raise KubedefisError(f"{file} is not valid YAML: {exc}") from exc
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind"):
                if doc["kind"] == "List":
                    objects += doc.get("items", [])
                else:
                    objects.append(doc)
    return objects


def apply(kubectl: list[str], namespace: str, objects: list[dict[str, Any]]) -> None:
    """`kubectl apply` the objects into a namespace (kubectl: the command with its connection flags)."""
    text = yaml.safe_dump_all(objects, sort_keys=False)
    kubectl_apply([*kubectl, "apply", "-n", namespace, "-f", "-"], input=text)


# kubectl validates what it applies against the API server's OpenAPI documents. While an aggregated
# API flaps (metrics-server on a node whose two cores are busy), that download fails for a moment
# ("failed to download openapi: the server could not find the requested resource", seen when four
# lanes started at once): such an apply is tried again for a while; any other failure is final.
OPENAPI_FLAP = "failed to download openapi"
OPENAPI_FLAP_WINDOW = 60.0  # seconds


def kubectl_apply(command: list[str], input: str | None = None) -> str:
    """Run a `kubectl ... apply ...` command; tried again while the API server's OpenAPI is unavailable."""
    final: list[CommandError] = []

    def attempt() -> Check[str]:
        try:
            return Check(True, run(command, input=input).stdout)
        except CommandError as exc:
            if OPENAPI_FLAP in str(exc):
                return Check(False, state=str(exc).strip()[-300:])
            final.append(exc)  # not a flap: stop waiting, raise it as it is
            return Check(True, "")

    out = wait_for("kubectl apply, the API server's OpenAPI served", attempt, timeout=OPENAPI_FLAP_WINDOW, interval=2)
    if final:
        raise final[0]
    return out or ""


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") == kind and (name is None or o["metadata"].get("name") == name)]


def live(obj: Any) -> Obj:
    """A kubernetes-client model as the dict a manifest would be (camelCase keys).

    Items of a list come without `kind`: it is taken from the model's class (V1Pod -> Pod).
    """
    data = _SERIALIZER.sanitize_for_serialization(obj)
    if isinstance(data, dict) and "kind" not in data:
        name = type(obj).__name__
        data["kind"] = name[2:] if name.startswith("V1") else name
    return data


def name_of(obj: Obj) -> str:
    return f"{obj.get('kind', '?')}/{obj.get('metadata', {}).get('name', '?')}"


def pod_spec(obj: Obj) -> Obj:
    """The pod spec of a Pod, a workload (Deployment, StatefulSet, DaemonSet, Job) or a CronJob."""
    kind = obj.get("kind")
    if kind == "Pod":
        return obj.get("spec", {})
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj.get("spec", {}).get("template", {}).get("spec", {})


def containers(obj: Obj, init: bool = False) -> list[Obj]:
    spec = pod_spec(obj)
    return list(spec.get("containers") or []) + (list(spec.get("initContainers") or []) if init else [])


def pod_labels(obj: Obj) -> dict[str, str]:
    """The labels of a Pod, or those a workload (CronJob included) gives its pods."""
    if obj.get("kind") == "Pod":
        return dict(obj.get("metadata", {}).get("labels") or {})
    spec = obj.get("spec", {})
    if obj.get("kind") == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    return dict(spec.get("template", {}).get("metadata", {}).get("labels") or {})


def quantity(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return parse_quantity(value)
    except ValueError:
        return None


def parse_selector(text: str) -> Obj:
    """kubectl's equality-based selector text (`a=b,c==d,e!=f`) as a LabelSelector."""
    match_labels: dict[str, str] = {}
    expressions: list[Obj] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if "!=" in part:
            key, value = part.split("!=", 1)
            expressions.append({"key": key.strip(), "operator": "NotIn", "values": [value.strip()]})
        elif "=" in part:
            key, value = part.replace("==", "=").split("=", 1)
            match_labels[key.strip()] = value.strip()
        elif part.startswith("!"):
            expressions.append({"key": part[1:].strip(), "operator": "DoesNotExist"})
        else:
            expressions.append({"key": part, "operator": "Exists"})
    return {"matchLabels": match_labels, "matchExpressions": expressions}


def selects(selector: Obj | str | None, labels: dict[str, str] | None, *, empty_selects_all: bool = False) -> bool:
    """Whether a selector selects these labels.

    `selector` is a LabelSelector (matchLabels/matchExpressions), a Service's plain map, or
    selector text. An empty selector selects nothing, as a Service's does, unless
    empty_selects_all (a NetworkPolicy's or a LabelSelector's `{}`).
    """
    if selector is None:
        return False
    if isinstance(selector, str):
        selector = parse_selector(selector)
    elif "matchLabels" not in selector and "matchExpressions" not in selector:
        selector = {"matchLabels": selector} if selector else {}
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        return empty_selects_all
    have = labels or {}
    if any(have.get(k) != v for k, v in match_labels.items()):
        return False
    for expr in expressions:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in have
        ok = {
            "In": present and have.get(key) in values,
            "NotIn": not present or have.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(op, False)
        if not ok:
            return False
    return True


def selector_text(selector: Obj | None) -> str:
    """A LabelSelector or a Service's map as kubectl selector text (matchLabels only)."""
    if not selector:
        return ""
    labels = selector.get("matchLabels", selector) if "matchExpressions" not in selector else selector["matchLabels"]
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items()))
