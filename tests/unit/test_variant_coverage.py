"""tests/harness/coverage.py: the requirement ids come from the conformance modules' markers, nothing imported."""

from __future__ import annotations

import argparse
import importlib.util
import sys

import pytest

from kubedefis.core import paths

_SPEC = importlib.util.spec_from_file_location(
    "variant_coverage", paths.REPO_ROOT / "tests" / "harness" / "coverage.py"
)
assert _SPEC and _SPEC.loader
coverage = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = coverage  # its dataclasses look their module up
_SPEC.loader.exec_module(coverage)


def test_every_defi_has_requirement_ids_read_from_its_markers():
    ids = coverage.requirement_ids()
    defis = {int(rid[1:].split(".")[0]) for rid in ids}
    modules = {int(p.stem.removeprefix("test_defi")) for p in (paths.REPO_ROOT / "conformance").glob("test_defi*.py")}
    assert defis == modules and set(range(1, 21)) <= defis, sorted(defis)
    assert {int(rid[1:].split(".")[0]) for rid in coverage.requirement_ids(range(1, 21))} == set(range(1, 21))
    assert all(rid.count(".") == 1 and rid.startswith("D") for rid in ids)
    assert ids.get("D12.4")  # a marker written over several lines is read too


def test_an_id_is_covered_only_by_a_variant_that_breaks_it_alone():
    one = coverage.Variant("a::x", True, frozenset({"D1.1"}))
    two = coverage.Variant("a::y", False, frozenset({"D1.1", "D1.2"}))
    result = coverage.Coverage({"D1.1": "", "D1.2": ""}, {"D1.1": [one]}, {"D1.1": [two], "D1.2": [two]})
    assert result.covered == ["D1.1"]
    assert result.line() == "covered 1/2 (50 %)"
    assert "NO VARIANT" in result.table().splitlines()[1]


def test_a_range_of_defis_is_read_and_checked():
    assert coverage.defi_range("1-20") == list(range(1, 21))
    assert coverage.defi_range("22") == [22]
    for wrong in ("x", "30-40"):
        with pytest.raises(argparse.ArgumentTypeError):
            coverage.defi_range(wrong)
