"""The package's layers hold: a module imports only from its own layer or those below it.

core (1: API access, waits, commands, Helm, manifests) -> localcluster (2) -> stack, diagram (3)
-> harness, report (4) -> commands (5). An import inside a function would hide an upward or circular
import from this check (and from the reader), so kubedefis imports are at module level only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "kubedefis"
LAYERS = {"core": 1, "localcluster": 2, "stack": 3, "diagram": 3, "harness": 4, "report": 4, "commands": 5}


def layer_of(module: str) -> int:
    """`kubedefis.stack.deploy` -> 3; `kubedefis` itself (its version only) -> 0; `kubedefis.__main__` on top."""
    parts = module.split(".")
    if len(parts) == 1:
        return 0
    return LAYERS.get(parts[1], max(LAYERS.values()) + 1)


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    return ".".join(("kubedefis", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")


def kubedefis_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module imported) for each import of kubedefis; `from kubedefis import x` imports kubedefis.x."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "kubedefis":
            found.extend((node.lineno, f"kubedefis.{alias.name}") for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("kubedefis."):
            found.append((node.lineno, node.module or ""))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "kubedefis")
    return found


def test_every_subpackage_has_a_layer():
    subpackages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert subpackages == set(LAYERS)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_down_the_layers_only(path: Path):
    name = module_name(path)
    tree = ast.parse(path.read_text())
    upward = [f"line {line}: {target}" for line, target in kubedefis_imports(tree) if layer_of(target) > layer_of(name)]
    assert not upward, f"{name} (layer {layer_of(name)}) imports from a higher layer: {upward}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_kubedefis_import_inside_a_function(path: Path):
    tree = ast.parse(path.read_text())
    hidden = [
        f"line {line} in {func.name}(): {target}"
        for func in ast.walk(tree)
        if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef)
        for line, target in kubedefis_imports(func)
    ]
    assert not hidden, f"kubedefis imported inside a function: {hidden}"
