"""Plain manifests (the hand-ins of défis 1–5): read them, apply them into a namespace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kubedefis.errors import KubedefisError
from kubedefis.shell import run


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
    run([*kubectl, "apply", "-n", namespace, "-f", "-"], input=text)


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") == kind and (name is None or o["metadata"].get("name") == name)]
