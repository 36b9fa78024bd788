"""What `kubedefis grade` prints while pytest runs: one line per défi, pytest's own output in a log file."""

from __future__ import annotations

import sys
import time
from collections.abc import Generator
from pathlib import Path
from typing import IO, Any

import pytest

from kubedefis.report import model
from kubedefis.report.pytest_report import collector_of


def progress_line(defi: int | None, cells: list[dict[str, Any]], seconds: float) -> str:
    """`défi 2: 5/5 requirements passed (12 s)`, with the failed and skipped counts when there are any."""
    totals = model.count_states(cells)
    line = f"{'défi ' + str(defi) if defi is not None else 'other tests'}: "
    line += f"{totals['passed']}/{len(cells)} requirements passed"
    extra = [f"{totals[s]} {s}" for s in (model.FAILED, model.SKIPPED) if totals[s]]
    if extra:
        line += ", " + ", ".join(extra)
    return f"{line} ({seconds:.0f} s)"


class GradeConsole:
    """A pytest plugin: prints a progress line when a défi's module is done.

    With `log` set, pytest's terminal output (tracebacks, captured output) goes to
    that file instead of the console, so the console shows only our lines.
    """

    def __init__(self, stream: IO[str] | None = None, log: Path | None = None) -> None:
        self.stream = stream or sys.stdout
        self.log = log
        self._log_file: IO[str] | None = None
        self._started: dict[int | None, float] = {}

    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        if self.log is None:
            return
        # the established way to replace pytest's reporter (pytest-sugar does the same)
        standard = config.pluginmanager.get_plugin("terminalreporter")
        if standard is None:
            return
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log.open("w", encoding="utf-8")
        config.pluginmanager.unregister(standard)
        config.pluginmanager.register(pytest.TerminalReporter(config, self._log_file), "terminalreporter")

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, Any]:
        defi = model.defi_of(str(item.path))
        self._started.setdefault(defi, time.monotonic())
        result = yield
        # the module's fixtures are torn down with its last test: its records are complete now
        if nextitem is None or model.defi_of(str(nextitem.path)) != defi:
            self._report_defi(item.config, defi)
        return result

    def _report_defi(self, config: pytest.Config, defi: int | None) -> None:
        collector = collector_of(config)
        if collector is None:
            return
        records = [r for r in collector.records.values() if r.defi == defi]
        cells: list[dict[str, Any]] = next((d["requirements"] for d in model.matrix(records)), [])
        self.write(progress_line(defi, cells, time.monotonic() - self._started[defi]))

    def write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()


def summary_table(report: dict[str, Any]) -> str:
    """The défi / passed / failed / skipped table printed at the end of `kubedefis grade`."""
    rows = [("défi", "passed", "failed", "skipped")]
    for defi in report["defis"]:
        t = defi["totals"]
        name = str(defi["defi"]) if defi["defi"] is not None else "other"
        rows.append((name, str(t["passed"]), str(t["failed"]), str(t["skipped"])))
    t = report["totals"]["requirements"]
    rows.append(("total", str(t["passed"]), str(t["failed"]), str(t["skipped"])))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]

    def fmt(row: tuple[str, str, str, str]) -> str:
        return "  ".join([row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))])

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(rows[0]), rule, *(fmt(r) for r in rows[1:-1]), rule, fmt(rows[-1])])
