"""`kubedefis grade`: run the conformance suite on a stack and write the grading reports.

Several --target, or a folder of target files, grade a class: each group in its own
`kubedefis grade`, then REPORT_DIR/class.html, class.csv and class.json (kubedefis.classgrade).

pytest runs in-process over conformance/test_defiN.py with the report plugin;
the console shows one line per défi and a summary table, pytest's own output
goes to REPORT_DIR/pytest.log. Exit status: 0 when every selected requirement
passed, 1 otherwise, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from kubedefis.commands import classgrade
from kubedefis.core import paths
from kubedefis.core.errors import KubedefisError
from kubedefis.harness import target as target_mod
from kubedefis.report import model, pytest_report
from kubedefis.report.console import GradeConsole, summary_table

USAGE_ERROR = 2
NOT_ALL_PASSED = 1
PYTEST_USAGE_ERROR = 4  # pytest's, also the suite plugin's "no cluster to test"


class UsageError(Exception):
    """A mistake in the command line: one line on stderr, exit status 2."""


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `grade` subcommand to the kubedefis command line."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "grade",
        allow_abbrev=False,  # a mistyped option must not silently become another one
        help="run the conformance suite on a stack and write the reports (HTML, JSON, JUnit XML)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--target",
        metavar="FILE",
        action="append",
        help="target file (YAML) describing the stack to grade; several --target, or a folder of them, grade a class",
    )
    parser.add_argument("--kubeconfig", help="kubeconfig of the cluster to grade")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument("--namespace", help="grade this namespace")
    parser.add_argument("--defis", metavar="N,N,...", help="défis to grade, e.g. 1,2,7 (default: every défi)")
    parser.add_argument("--handin", metavar="DIR", help="folder of the hand-ins (defiN/) for the static checks")
    parser.add_argument(
        "--allow-disruption", action="store_true", help="allow destructive checks (pod deletion, load, attacks)"
    )
    parser.add_argument("--report-dir", metavar="DIR", help="where to write the reports (default: reports/<timestamp>)")
    parser.add_argument("--static-only", action="store_true", help="only the checks that need no cluster")
    parser.add_argument(
        "--suite", metavar="DIR", help="the conformance suite's folder (default: the repository's conformance/)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show pytest's output instead of logging it")
    classgrade.add_class_options(parser)
    parser.set_defaults(func=_command)
    return parser


def _command(args: argparse.Namespace, status: object = None) -> None:
    # cli.main ignores the handler's return value: a failing grade leaves through SystemExit
    code = grade(args)
    if code:
        raise SystemExit(code)


def grade(args: argparse.Namespace) -> int:
    if classgrade.is_class(args.target):
        return classgrade.grade_args(args)  # one `kubedefis grade` per group, then the class report
    args.target = args.target[0] if args.target else None
    try:
        pytest_args, report_dir, defis = _pytest_args(args)
    except UsageError as exc:
        print(f"kubedefis grade: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    return _run(pytest_args, report_dir, defis, verbose=args.verbose)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def modules(suite: Path) -> dict[int, Path]:
    """The défi modules of a suite folder, by number."""
    found = {}
    for path in suite.glob("test_defi*.py"):
        defi = model.defi_of(path.name)
        if defi is not None:
            found[defi] = path
    return dict(sorted(found.items()))


def _selected(suite: Path, defis: str | None) -> dict[int, Path]:
    if not suite.is_dir():
        raise UsageError(f"conformance suite folder {suite} does not exist")
    available = modules(suite)
    if not available:
        raise UsageError(f"no test_defiN.py module in {suite}")
    if not defis:
        return available
    wanted: list[int] = []
    for part in defis.split(","):
        try:
            wanted.append(int(part.strip()))
        except ValueError:
            raise UsageError(f"--defis takes défi numbers separated by commas (e.g. 1,2,7), not {defis!r}") from None
    missing = [d for d in wanted if d not in available]
    if missing:
        raise UsageError(f"no conformance module for défi {missing[0]}; available: {sorted(available)}")
    return {d: available[d] for d in sorted(set(wanted))}


def _pytest_args(args: argparse.Namespace) -> tuple[list[str], Path, list[int]]:
    if args.target:
        try:
            target_mod.load(Path(args.target))
        except KubedefisError as exc:
            raise UsageError(_one_line(str(exc))) from None
    if args.kubeconfig and not Path(args.kubeconfig).expanduser().is_file():
        raise UsageError(f"kubeconfig {args.kubeconfig} does not exist")
    if args.handin and not Path(args.handin).is_dir():
        raise UsageError(f"hand-in folder {args.handin} does not exist")
    selected = _selected(Path(args.suite) if args.suite else paths.REPO_ROOT / "conformance", args.defis)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    report_dir = Path(args.report_dir or Path("reports") / stamp)
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the report folder {report_dir}: {exc.strerror}") from None

    command = [str(p) for p in selected.values()]
    # The suite plugin explicitly, so grading does not depend on which conftest.py sits above the suite;
    # the report plugin is passed as an object to pytest.main (imported already: no -p, no rewrite warning).
    command += ["-p", "kubedefis.harness.plugin", "-p", "no:cacheprovider"]
    command += ["--report-dir", str(report_dir), f"--junitxml={report_dir / 'junit.xml'}"]
    for flag in ("target", "kubeconfig", "context", "namespace", "handin"):
        value = getattr(args, flag)
        if value:
            command += [f"--{flag}", str(value)]
    if args.allow_disruption:
        command.append("--allow-disruption")
    if args.static_only:
        command += ["-m", "static"]
    return command, report_dir, list(selected)


def _run(pytest_args: list[str], report_dir: Path, defis: list[int], verbose: bool) -> int:
    log = None if verbose else report_dir / "pytest.log"
    print(f"grading défi{'s' if len(defis) > 1 else ''} {', '.join(map(str, defis))} into {report_dir}", flush=True)
    classgrade.answer_interrupts()  # a class run's deadline interrupts this run to get its report
    code = pytest.main(pytest_args, plugins=[pytest_report, GradeConsole(sys.stdout, log)])
    report_file = report_dir / "report.json"
    if not report_file.exists():
        where = f"; see {log}" if log and log.exists() else ""
        print(f"kubedefis grade: error: pytest stopped before any report was written (exit {code}){where}")
        return USAGE_ERROR if code == PYTEST_USAGE_ERROR else NOT_ALL_PASSED
    report: dict[str, Any] = json.loads(report_file.read_text(encoding="utf-8"))
    print()
    print(summary_table(report))
    head = report["header"]
    unchecked = [d for d in defis if d not in {entry["defi"] for entry in report["defis"]}]
    if unchecked:
        print(f"no selected check for défi {', '.join(map(str, unchecked))}")
    if head.get("interrupted"):
        print(f"\nthe run stopped early: {head['interrupted']}")
    rights = head.get("permissions") or {}
    if rights.get("denied"):
        print(f"\nthe credentials cannot {', '.join(rights['denied'])}: the checks that need it were skipped")
    for err in head.get("collection_errors") or []:
        print(f"\ncould not collect {err['nodeid']}: see the report")
    print()
    print(f"HTML report:  {report_dir / 'report.html'}")
    print(f"JSON report:  {report_file}")
    print(f"JUnit XML:    {head.get('junit_xml') or report_dir / 'junit.xml'}")
    if log:
        print(f"pytest log:   {log}")
    if code == PYTEST_USAGE_ERROR:
        return USAGE_ERROR
    return 0 if model.all_passed(report) and code == 0 else NOT_ALL_PASSED


def main(argv: list[str] | None = None) -> int:
    """`python -m kubedefis.commands.grade [options]`: the grade subcommand on its own."""
    parser = argparse.ArgumentParser(prog="kubedefis")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["grade", *(sys.argv[1:] if argv is None else argv)])
    return grade(args)


if __name__ == "__main__":
    raise SystemExit(main())
