"""Which requirement of every défi has a broken-stack variant that makes it fail, and it alone.

    python -m tests.harness.coverage              # the table, then `covered N/M (P %)`
    python -m tests.harness.coverage --fail-under 95 --defis 1-20   # the bar, on défis 1-20

The requirement ids are those of the `requirement` markers of conformance/test_defi*.py (read from the
source, nothing imported). The variants are the tests of tests/harness, collected by pytest (nothing
run): each declares the ids it breaks with `breaks(...)` (a marker, or a `pytest.param` mark); a case
named `D5.4-...` without one breaks that id. A variant is static when its module's name says so
(runs without a cluster), live otherwise. An id is covered when a variant breaks it and no other id:
the run of that variant asserts exactly that (tests/harness/requirements.py).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT / "conformance"
HARNESS = Path(__file__).resolve().parent
CASE_ID = re.compile(r"(?:^|\[)(D\d+\.\d+)-")
# Every défi with a conformance module (21 and 22 too, as they are added), in order.
DEFIS = sorted(int(p.stem.removeprefix("test_defi")) for p in CONFORMANCE.glob("test_defi*.py"))


def defi_range(text: str) -> list[int]:
    """`1-20` (or `22`) -> the défis of that range that have a conformance module."""
    first, _, last = text.partition("-")
    try:
        low, high = int(first), int(last or first)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a range such as 1-20, found {text!r}") from None
    chosen = [n for n in DEFIS if low <= n <= high]
    if not chosen:
        raise argparse.ArgumentTypeError(f"no conformance module for défis {text} (there are {DEFIS})")
    return chosen


def requirement_ids(defis: Iterable[int] = DEFIS) -> dict[str, str]:
    """Every requirement id of these défis (conformance/test_defiN.py) -> its text (the first one given)."""
    found: dict[str, str] = {}
    for number in defis:
        tree = ast.parse((CONFORMANCE / f"test_defi{number}.py").read_text())
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr != "requirement" or not node.args or not isinstance(node.args[0], ast.Constant):
                continue
            rid = str(node.args[0].value)
            text = node.args[1].value if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) else ""
            found.setdefault(rid, str(text))
    return found


@dataclass
class Variant:
    nodeid: str
    static: bool
    breaks: frozenset[str]


@dataclass(eq=False)  # a pytest plugin: hashable, as pytest keeps its plugins in sets
class _Collector:
    variants: list[Variant] = field(default_factory=list)

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            marker = item.get_closest_marker("breaks")
            ids = set(marker.args) if marker else set(CASE_ID.findall(item.nodeid))
            if ids:
                static = "static" in Path(str(item.fspath)).name
                self.variants.append(Variant(item.nodeid, static, frozenset(ids)))


def variants() -> list[Variant]:
    """The variants of tests/harness and what each declares it breaks (collected, not run)."""
    collector = _Collector()
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        code = pytest.main(
            ["--collect-only", "-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT), str(HARNESS)],
            plugins=[collector],
        )
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        raise SystemExit(f"collecting {HARNESS} failed (exit {code})")
    return collector.variants


def _sort_key(rid: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", rid))


@dataclass
class Coverage:
    ids: dict[str, str]
    alone: dict[str, list[Variant]]  # id -> variants breaking it and no other
    together: dict[str, list[Variant]]  # id -> variants breaking it with others

    @property
    def covered(self) -> list[str]:
        return [rid for rid in self.ids if self.alone.get(rid)]

    @property
    def percent(self) -> float:
        return 100.0 * len(self.covered) / len(self.ids) if self.ids else 0.0

    def line(self) -> str:
        return f"covered {len(self.covered)}/{len(self.ids)} ({self.percent:.0f} %)"

    def table(self) -> str:
        lines = []
        for rid in sorted(self.ids, key=_sort_key):
            alone = self.alone.get(rid, [])
            kinds = "+".join(sorted({"static" if v.static else "live" for v in alone})) or "-"
            names = ", ".join(v.nodeid.split("::", 1)[-1] for v in alone)
            others = self.together.get(rid, [])
            also = f"  (with other ids: {', '.join(v.nodeid.split('::', 1)[-1] for v in others)})" if others else ""
            lines.append(f"{rid:7} {kinds:11} {names or 'NO VARIANT'}{also}")
        unknown = sorted({r for vs in (*self.alone.values(), *self.together.values()) for v in vs for r in v.breaks}
                         - set(self.ids))  # fmt: skip
        if unknown:
            lines.append(f"variants declare ids no conformance test has: {unknown}")
        return "\n".join(lines)


def coverage(defis: Iterable[int] = DEFIS) -> Coverage:
    ids = requirement_ids(defis)
    alone: dict[str, list[Variant]] = {}
    together: dict[str, list[Variant]] = {}
    known = requirement_ids()  # ids of the défis left out are not "unknown"
    for variant in variants():
        target = alone if len(variant.breaks) == 1 else together
        for rid in variant.breaks:
            if rid in ids or rid not in known:
                target.setdefault(rid, []).append(variant)
    return Coverage(ids, alone, together)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--fail-under", type=float, default=0.0, help="exit 1 below this percentage")
    parser.add_argument("--defis", type=defi_range, default=DEFIS, help="a range such as 1-20 (default: every défi)")
    args = parser.parse_args(argv)
    result = coverage(args.defis)
    print(result.table())
    print(f"défis {args.defis[0]}-{args.defis[-1]}: {result.line()}")
    return 1 if result.percent < args.fail_under else 0


if __name__ == "__main__":
    sys.exit(main())
