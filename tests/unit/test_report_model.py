"""kubedefis.report.model: how the tests of one requirement make its cell."""

from __future__ import annotations

import pytest

from kubedefis.report import model
from kubedefis.report.model import TestRecord


def record(name: str, outcome: str, *, not_given: bool = False) -> TestRecord:
    found = TestRecord(f"conformance/test_defi2.py::{name}", "conformance/test_defi2.py", 2, "D2.1")
    found.outcome, found.not_given = outcome, not_given
    return found


def status(*records: TestRecord) -> str:
    (defi,) = model.matrix(list(records))
    (cell,) = defi["requirements"]
    return cell["status"]


@pytest.mark.parametrize(
    "live, expected",
    [(model.PASSED, model.PASSED), (model.FAILED, model.FAILED), (model.SKIPPED, model.SKIPPED)],
)
def test_a_hand_in_not_given_leaves_the_requirement_to_the_stack(live, expected):
    assert status(record("test_handin", model.SKIPPED, not_given=True), record("test_live", live)) == expected


def test_any_other_skip_keeps_the_requirement_unproven():
    assert status(record("test_handin", model.SKIPPED), record("test_live", model.PASSED)) == model.SKIPPED


def test_a_requirement_read_only_in_a_hand_in_not_given_is_skipped():
    assert status(record("test_handin", model.SKIPPED, not_given=True)) == model.SKIPPED


def test_a_failed_hand_in_fails_the_requirement_whatever_the_stack():
    assert status(record("test_handin", model.FAILED), record("test_live", model.PASSED)) == model.FAILED
