"""`kubedefis grade`: usage errors, exit status and what it prints, on small example suites."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubedefis.commands import grade
from kubedefis.report.console import progress_line, summary_table

PASSING = """
import pytest

@pytest.mark.static
@pytest.mark.requirement("D{n}.1", "a static check")
def test_static():
    pass

@pytest.mark.requirement("D{n}.2", "a live check")
def test_live():
    {live}
"""


def _suite(pytester: pytest.Pytester, live2: str = "pass") -> Path:
    pytester.makepyfile(
        test_defi1=PASSING.format(n=1, live="pass"),
        test_defi2=PASSING.format(n=2, live=live2),
    )
    return pytester.path


def test_a_missing_target_file_is_a_one_line_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = grade.main(
        ["--suite", str(tmp_path), "--target", str(tmp_path / "nope.yaml"), "--report-dir", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "target file" in err and "does not exist" in err


def test_an_invalid_target_file_is_a_one_line_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "t.yaml"
    target.write_text("a: [\n")
    assert grade.main(["--suite", str(tmp_path), "--target", str(target), "--report-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not valid YAML" in err


@pytest.mark.parametrize(
    ("defis", "message"),
    [("1,x", "défi numbers separated by commas"), ("9", "no conformance module for défi 9")],
)
def test_bad_defis_are_usage_errors(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str], defis: str, message: str
) -> None:
    suite = _suite(pytester)
    assert grade.main(["--suite", str(suite), "--defis", defis, "--report-dir", str(suite / "r")]) == 2
    assert message in capsys.readouterr().err


def test_a_missing_kubeconfig_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        grade.main(["--suite", str(tmp_path), "--kubeconfig", str(tmp_path / "kc"), "--report-dir", str(tmp_path)]) == 2
    )
    assert "kubeconfig" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--bogus", "--defi"])  # --defi: no abbreviation of --defis
def test_an_unknown_option_exits_2(tmp_path: Path, option: str) -> None:
    with pytest.raises(SystemExit) as exc:
        grade.main(["--suite", str(tmp_path), option, "1"])
    assert exc.value.code == 2


def test_all_passed_exits_0_and_prints_progress_table_and_paths(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = _suite(pytester, live2="assert False, 'the page did not answer'")
    report_dir = suite / "r"
    assert grade.main(["--suite", str(suite), "--defis", "1", "--report-dir", str(report_dir)]) == 0
    out = capsys.readouterr().out
    assert "défi 1: 2/2 requirements passed (" in out
    assert "défi 2" not in out
    assert f"HTML report:  {report_dir / 'report.html'}" in out
    assert (report_dir / "report.html").exists() and (report_dir / "junit.xml").exists()
    assert "test_defi1.py" in (report_dir / "pytest.log").read_text()  # pytest's own output went to the log


def test_a_failed_requirement_exits_1(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    suite = _suite(pytester, live2="assert False, 'the page did not answer'")
    report_dir = suite / "r"
    assert grade.main(["--suite", str(suite), "--report-dir", str(report_dir)]) == 1
    out = capsys.readouterr().out
    assert "défi 2: 1/2 requirements passed, 1 failed (" in out
    table = out[out.index("défi   passed") :].splitlines()
    assert table[2].split() == ["1", "2", "0", "0"] and table[3].split() == ["2", "1", "1", "0"]
    assert table[5].split() == ["total", "3", "1", "0"]
    tests = json.loads((report_dir / "report.json").read_text())["tests"]
    assert any("the page did not answer" in t["message"] for t in tests)


def test_static_only_runs_only_the_static_checks(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    suite = _suite(pytester, live2="assert False")
    report_dir = suite / "r"
    assert grade.main(["--suite", str(suite), "--static-only", "--report-dir", str(report_dir)]) == 0
    report = json.loads((report_dir / "report.json").read_text())
    assert [t["requirement"] for t in report["tests"]] == ["D1.1", "D2.1"]
    assert "défi 2: 1/1 requirements passed" in capsys.readouterr().out


def test_a_defi_without_selected_check_is_named(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    suite = _suite(pytester)
    pytester.makepyfile(test_defi3="def test_live():\n    pass\n")
    assert grade.main(["--suite", str(suite), "--static-only", "--report-dir", str(suite / "r")]) == 0
    assert "no selected check for défi 3" in capsys.readouterr().out


def test_a_skipped_requirement_is_not_a_pass(pytester: pytest.Pytester) -> None:
    suite = _suite(pytester, live2="pytest.skip('needs --allow-disruption')")
    assert grade.main(["--suite", str(suite), "--defis", "2", "--report-dir", str(suite / "r")]) == 1


def test_progress_line_and_summary_table() -> None:
    cells = [{"status": "passed"}, {"status": "failed"}, {"status": "skipped"}, {"status": "passed"}]
    assert progress_line(7, cells, 12.4) == "défi 7: 2/4 requirements passed, 1 failed, 1 skipped (12 s)"
    report = {
        "defis": [
            {"defi": 1, "totals": {"passed": 3, "failed": 0, "skipped": 0}},
            {"defi": 12, "totals": {"passed": 10, "failed": 2, "skipped": 1}},
        ],
        "totals": {"requirements": {"passed": 13, "failed": 2, "skipped": 1}},
    }
    assert summary_table(report).splitlines() == [
        "défi   passed  failed  skipped",
        "-----  ------  ------  -------",
        "1           3       0        0",
        "12         10       2        1",
        "-----  ------  ------  -------",
        "total      13       2        1",
    ]
