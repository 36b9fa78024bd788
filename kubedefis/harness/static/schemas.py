"""JSON schemas for kubeconform, generated offline from Kubernetes' own OpenAPI document.

kubeconform downloads its schemas from GitHub, which this machine cannot reach.
The k8s.io/kubernetes module (already in the Go module cache for the offline
build) ships api/openapi-spec/swagger.json: each definition with a
group/version/kind becomes one standalone schema (references inlined), strict
(no unknown fields), named the way kubeconform looks them up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kubedefis.core import paths, versions
from kubedefis.localcluster import gobuild

# Types whose wire form the OpenAPI document types too narrowly.
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"


def schema_dir(version: str = versions.KUBERNETES) -> Path:
    return paths.cache_root() / "schemas" / f"{version}-standalone-strict"


def location(version: str = versions.KUBERNETES) -> str:
    """kubeconform's -schema-location template for our generated folder."""
    return str(schema_dir(version)) + "/{{ .ResourceKind }}{{ .KindSuffix }}.json"


def file_name(group: str, version: str, kind: str) -> str:
    suffix = f"-{group.split('.')[0].lower()}-{version}" if group else f"-{version}"
    return f"{kind.lower()}{suffix}.json"


def _inline(node: Any, definitions: dict[str, Any], stack: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_inline(item, definitions, stack) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):  # (JSONSchemaProps has a *property* named $ref)
        name = ref.rsplit("/", 1)[-1]
        if name == INT_OR_STRING:
            return {"oneOf": [{"type": "string"}, {"type": "integer"}]}
        if name == QUANTITY:
            return {"oneOf": [{"type": "string"}, {"type": "number"}]}
        if name in stack:  # recursive types (JSONSchemaProps): accept anything below
            return {}
        return _inline(definitions[name], definitions, (*stack, name))
    out = {k: _inline(v, definitions, stack) for k, v in node.items() if k not in ("description",)}
    if out.get("type") == "object" and "properties" in out:
        out["additionalProperties"] = False
    if out.get("format") == "int-or-string":
        out.pop("type", None)
        out["oneOf"] = [{"type": "string"}, {"type": "integer"}]
    return out


def generate(version: str = versions.KUBERNETES) -> Path:
    """Write the schemas once (cached); return their folder."""
    out = schema_dir(version)
    if (out / ".complete").exists():
        return out
    swagger = gobuild.module_dir("k8s.io/kubernetes", version) / "api/openapi-spec/swagger.json"
    definitions = json.loads(swagger.read_text())["definitions"]
    out.mkdir(parents=True, exist_ok=True)
    for name, definition in definitions.items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            schema = _inline(definition, definitions, (name,))
            (out / file_name(gvk["group"], gvk["version"], gvk["kind"])).write_text(json.dumps(schema))
    (out / ".complete").write_text(version + "\n")
    return out
