"""What a grading run found, per test and per requirement, as plain data (the JSON report).

A requirement may be checked by several tests (a static tier on the hand-in's
manifests, a live tier on the cluster): its cell is failed if any of them
failed, passed if all passed, skipped otherwise.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA = "kubedefis-report/1"

# Test outcomes, from pytest's reports; "error" is a failure outside the test body (fixture, teardown).
PASSED, FAILED, ERROR, SKIPPED, XFAILED, XPASSED = "passed", "failed", "error", "skipped", "xfailed", "xpassed"
OUTCOMES = (PASSED, FAILED, ERROR, SKIPPED, XFAILED, XPASSED)
CELL_STATES = (PASSED, FAILED, SKIPPED)
# The user property a test sets when what it reads was not given to this run (a deployed stack graded
# without its hand-in folder): its skip leaves the requirement to the tests that did run.
NOT_GIVEN = "kubedefis_not_given"

_DEFI_MODULE = re.compile(r"test_defi(\d+)\.py$")


def defi_of(path: str) -> int | None:
    """The défi number of a conformance module (`.../test_defi12.py` → 12), None for any other file."""
    match = _DEFI_MODULE.search(path)
    return int(match.group(1)) if match else None


@dataclass
class FindingRecord:
    where: str
    expected: str
    found: str


@dataclass
class TestRecord:
    """One test: what it checks, how it ended and, when it failed, why."""

    __test__ = False  # not a pytest test class, whatever its name

    nodeid: str
    module: str
    defi: int | None
    requirement: str | None
    requirement_text: str = ""
    outcome: str = SKIPPED
    skip_reason: str = "not run (the session stopped before this test)"
    duration: float = 0.0
    message: str = ""
    findings: list[FindingRecord] = field(default_factory=list)
    evidence: str = ""
    traceback: str = ""
    not_given: bool = False  # skipped: what it reads (the hand-in) was not given to this run

    @property
    def key(self) -> str:
        """The matrix row: the requirement id, or the test itself when it names none."""
        return self.requirement or self.nodeid


def cell_state(outcomes: list[str]) -> str:
    if any(o in (FAILED, ERROR) for o in outcomes):
        return FAILED
    if outcomes and all(o in (PASSED, XPASSED) for o in outcomes):
        return PASSED
    return SKIPPED


def _requirement_sort_key(key: str) -> tuple[int, ...] | tuple[float, str]:
    # D2.10 after D2.9: compare the numbers, not the text
    numbers = re.findall(r"\d+", key)
    if key.startswith("D") and numbers:
        return tuple(int(n) for n in numbers)
    return (float("inf"), key)


def matrix(records: list[TestRecord]) -> list[dict[str, Any]]:
    """Défis in order, each with its requirements (cells) in order and its totals."""
    by_defi: dict[int | None, dict[str, list[TestRecord]]] = {}
    for record in records:
        by_defi.setdefault(record.defi, {}).setdefault(record.key, []).append(record)
    out = []
    for defi in sorted(by_defi, key=lambda d: (d is None, d or 0)):
        cells = []
        for key in sorted(by_defi[defi], key=_requirement_sort_key):
            tests = by_defi[defi][key]
            # A requirement checked both in the hand-in and on the stack, graded without the hand-in,
            # is what the stack's tests say (a group whose stack meets it is not left at "skipped").
            judged = [t for t in tests if not (t.not_given and t.outcome == SKIPPED)] or tests
            cells.append(
                {
                    "id": key,
                    "labelled": tests[0].requirement is not None,
                    "status": cell_state([t.outcome for t in judged]),
                    "texts": list(dict.fromkeys(t.requirement_text for t in tests if t.requirement_text)),
                    "tests": [t.nodeid for t in tests],
                }
            )
        out.append({"defi": defi, "requirements": cells, "totals": count_states(cells)})
    return out


def count_states(cells: list[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(CELL_STATES, 0)
    for cell in cells:
        counts[cell["status"]] += 1
    return counts


def build(records: list[TestRecord], header: dict[str, Any]) -> dict[str, Any]:
    """The whole report: header, matrix, totals (requirements and tests) and every test."""
    defis = matrix(records)
    tests = dict.fromkeys(OUTCOMES, 0)
    for record in records:
        tests[record.outcome] += 1
    return {
        "schema": SCHEMA,
        "header": header,
        "totals": {
            "requirements": count_states([c for d in defis for c in d["requirements"]]),
            "tests": tests,
        },
        "defis": defis,
        "tests": [asdict(r) for r in records],
    }


def all_passed(report: dict[str, Any]) -> bool:
    """Every requirement of the report passed (and there was at least one)."""
    totals = report["totals"]["requirements"]
    return totals[PASSED] > 0 and totals[FAILED] == 0 and totals[SKIPPED] == 0
