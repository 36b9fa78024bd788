"""Grade a whole class: one `kubedefis grade` per group, a few at a time, then a class report.

Each group (a target file) is graded in its own process,
`python -m kubedefis grade --target T --report-dir OUT/<group>`, in its own session, so that whatever
happens to one group (a bad kubeconfig, a missing namespace, an expired token, an API call that never
returns, a crash) stays that group's line of the report and never touches another group's run:
each has its own process, report folder and deadline; at the deadline its whole process group is
interrupted (pytest then writes what it has), then killed.

Read-only by default: --allow-disruption is passed only when asked. Resumable: a group whose
OUT/<group>/report.json is complete is kept (not graded again) unless asked to regrade; a group that
could not be graded is tried again. OUT/ gets class.html, class.csv and class.json (kubedefis.report.
classreport), rewritten after each group, so a long run can be followed in a browser.

Exit status: 0 when every group was graded (whatever its score), 1 when a group could not be,
2 on a usage error, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from kubedefis.report import classreport, model

DEFAULT_TIMEOUT = 1800.0  # per group; the read-only grading of our own stack takes 4 min here
DEFAULT_GRACE = 15.0  # after the deadline's SIGINT, before SIGKILL: time for pytest to write its report
GRADE_COMMAND: tuple[str, ...] = (sys.executable, "-m", "kubedefis", "grade")
RUN_FILE = "grading.json"  # per group: how its last grading went (status, reason, seconds, command)
LOG_FILE = "grade.log"  # per group: the output of its `kubedefis grade`
USAGE_ERROR, SOME_NOT_GRADED, INTERRUPTED = 2, 1, 130


class UsageError(Exception):
    """A mistake in what was asked (no target, two groups of the same name...): one line, exit 2."""


@dataclass(frozen=True)
class Group:
    """One group of the class: its target file and what that file says of it."""

    name: str
    target: Path
    folder: str  # under the class's output folder
    namespace: str | None = None
    commit: str | None = None
    chart_version: str | None = None
    raw: dict[str, Any] | None = field(default=None, compare=False, repr=False)  # None: not a YAML mapping


@dataclass
class GroupResult:
    group: Group
    status: str
    reason: str = ""
    seconds: float | None = None
    exit_code: int | None = None
    resumed: bool = False
    report: dict[str, Any] | None = None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def read_group(path: Path) -> Group:
    """A target file as a group: its name is the file's stem unless the file says `group:`."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        raw = None  # `kubedefis grade` says what is wrong with it, as that group's reason
    mapping = raw if isinstance(raw, dict) else None
    facts = mapping or {}
    name = str(facts.get("group") or path.stem)
    return Group(
        name=name,
        target=path.resolve(),
        folder=classreport.folder_name(name),
        namespace=_text(facts.get("namespace")),
        commit=_text(facts.get("commit")),
        chart_version=_text(facts.get("chart_version")),
        raw=mapping,
    )


def discover(paths: Sequence[Path]) -> list[Group]:
    """The groups of a class: each *.yaml / *.yml of a folder (sorted), and each file given."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
            if not found:
                raise UsageError(f"no target file (*.yaml) in {path}")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise UsageError(f"{path}: no such target file or folder")
    if not files:
        raise UsageError("no target file given")
    groups = [read_group(f) for f in dict.fromkeys(p.resolve() for p in files)]
    seen: dict[str, Group] = {}
    for group in groups:
        other = seen.setdefault(group.folder, group)
        if other is not group:
            raise UsageError(f"two target files grade group {group.name!r}: {other.target} and {group.target}")
    return groups


def runnable_target(group: Group, folder: Path) -> Path:
    """The target file to hand to `kubedefis grade`: the group's own when it names its group, else a copy
    in its report folder (paths made absolute) with `group:` added, so that the group's report shows its name."""
    if group.raw is None or "group" in group.raw:
        return group.target  # not a mapping: `kubedefis grade` says what is wrong with it
    copy = {"group": group.name, **group.raw}
    base = group.target.parent
    for key in ("kubeconfig", "chart"):
        if isinstance(copy.get(key), str):
            copy[key] = str((base / Path(copy[key]).expanduser()).resolve())
    values = copy.get("values")
    if isinstance(values, str):
        values = [values]
    if isinstance(values, list):
        copy["values"] = [str((base / Path(v).expanduser()).resolve()) if isinstance(v, str) else v for v in values]
    path = folder / "target.yaml"
    path.write_text(
        f"# {group.target} with its group's name, for kubedefis grade\n"
        + yaml.safe_dump(copy, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    return path


def complete_report(folder: Path) -> dict[str, Any] | None:
    """The group's report.json when a grading finished and wrote all of it; None otherwise."""
    try:
        report: dict[str, Any] = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (
        not isinstance(report, dict)
        or report.get("schema") != model.SCHEMA
        or report.get("header", {}).get("interrupted")
    ):
        return None
    run = _run_file(folder)
    if run and run.get("status") != classreport.GRADED:
        return None  # e.g. a partial report written at the deadline
    return report


def _run_file(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _report_seconds(report: dict[str, Any]) -> float | None:
    import datetime

    head = report.get("header", {})
    try:
        start = datetime.datetime.fromisoformat(head["date"])
        end = datetime.datetime.fromisoformat(head["finished"])
    except (KeyError, TypeError, ValueError):
        return None
    return (end - start).total_seconds()


def _one_line(text: str, limit: int = 400) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def failure_reason(log: str, exit_code: int | None) -> str:
    """Why a grading wrote no report: `kubedefis grade`'s own error line, else the log's last line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        if "kubedefis grade: error:" in line:
            return _one_line(line.split("kubedefis grade: error:", 1)[1])
    for line in reversed(lines):
        if line.startswith("kubedefis:") or "Error" in line.split(":", 1)[0]:
            return _one_line(line)
    if exit_code is not None and exit_code < 0:
        return f"killed by signal {-exit_code}"
    tail = _one_line(lines[-1]) if lines else "no output"
    return f"exit status {exit_code}: {tail}"


def _read_log(path: Path, limit: int = 64_000) -> str:
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - limit))
            return log.read().decode("utf-8", "replace")
    except OSError:
        return ""


def answer_interrupts() -> None:
    """Make SIGINT raise KeyboardInterrupt again in this process (the main thread's call).

    A class run stops a group at its deadline with SIGINT, so that pytest writes the report of what it
    checked so far. A process started in the background (`nohup`, `cmd &` in a script) inherits SIGINT
    ignored, and Python then leaves it ignored: the group would run on until SIGKILL, its report lost.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)


def wait_unreaped(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait up to timeout for the process to end, without reaping it; whether it ended."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:  # reaped already
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(0.1, left))


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class ClassGrading:
    """One class run: the groups, how to grade each, where, and its console."""

    def __init__(
        self,
        groups: Sequence[Group],
        out_dir: Path,
        *,
        concurrency: int = 1,
        timeout: float = DEFAULT_TIMEOUT,
        grace: float = DEFAULT_GRACE,
        regrade: bool = False,
        allow_disruption: bool = False,
        extra_args: Sequence[str] = (),
        grade_command: Sequence[str] = GRADE_COMMAND,
        stream: IO[str] | None = None,
    ) -> None:
        if concurrency < 1:
            raise UsageError(f"concurrency must be at least 1, not {concurrency}")
        if timeout <= 0:
            raise UsageError(f"the per-group timeout must be positive, not {timeout}")
        self.groups = list(groups)
        self.out_dir = out_dir
        self.concurrency = concurrency
        self.timeout = timeout
        self.grace = grace
        self.regrade = regrade
        self.allow_disruption = allow_disruption
        self.extra_args = list(extra_args)
        self.grade_command = list(grade_command)
        self.stream = stream or sys.stdout
        self.results: dict[str, GroupResult] = {}
        self._running: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._started = time.monotonic()
        self._first_launch: float | None = None
        self._done = 0
        self._done_run = 0
        self._to_run = 0

    # --- one group --------------------------------------------------------------------------------

    def command(self, group: Group, target: Path, folder: Path) -> list[str]:
        command = [*self.grade_command, "--target", str(target), "--report-dir", str(folder)]
        if self.allow_disruption:
            command.append("--allow-disruption")
        return command + self.extra_args

    def grade_one(self, group: Group) -> GroupResult:
        """Grade one group in its own process session; never raises for what happens to that group."""
        if self._stopping.is_set():
            return GroupResult(group, classreport.NOT_RUN, "the class run was interrupted before this group")
        folder = self.out_dir / group.folder
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for name in ("report.json", "report.html", "junit.xml", RUN_FILE):
                (folder / name).unlink(missing_ok=True)  # no stale result can pass for this run's
            target = runnable_target(group, folder)
        except OSError as exc:
            return GroupResult(group, classreport.ERROR, f"cannot prepare {folder}: {exc}")
        command = self.command(group, target, folder)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        started = time.monotonic()
        with self._lock:
            self._first_launch = self._first_launch or started
        timed_out = False
        with (folder / LOG_FILE).open("wb") as log:
            try:
                proc = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
            except OSError as exc:
                return GroupResult(group, classreport.ERROR, f"cannot start {command[0]}: {exc}", 0.0)
            with self._lock:
                self._running[proc.pid] = proc
            try:
                if not wait_unreaped(proc, self.timeout):
                    timed_out = True
                    # SIGINT first: pytest stops and writes the report of what it checked so far
                    _signal_group(proc.pid, signal.SIGINT)
                    if not wait_unreaped(proc, self.grace):
                        _signal_group(proc.pid, signal.SIGKILL)
            finally:
                # Whatever the grading left behind in its session (kubectl port-forward...) goes with it.
                # Its leader is not reaped yet, so its id (the session's and group's id) cannot have been reused.
                with self._lock:
                    _signal_group(proc.pid, signal.SIGKILL)
                    self._running.pop(proc.pid, None)
                proc.wait()
        seconds = time.monotonic() - started
        result = self._result(group, folder, proc.returncode, seconds, timed_out)
        run = {
            "group": group.name,
            "target_file": str(group.target),
            "status": result.status,
            "reason": result.reason,
            "seconds": round(seconds, 1),
            "exit_code": proc.returncode,
            "command": command,
        }
        (folder / RUN_FILE).write_text(json.dumps(run, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return result

    def _result(self, group: Group, folder: Path, code: int | None, seconds: float, timed_out: bool) -> GroupResult:
        report: dict[str, Any] | None = None
        try:
            loaded = json.loads((folder / "report.json").read_text(encoding="utf-8"))
            report = loaded if isinstance(loaded, dict) and loaded.get("schema") == model.SCHEMA else None
        except (OSError, ValueError):
            report = None
        if self._stopping.is_set() and (timed_out or report is None or report["header"].get("interrupted")):
            return GroupResult(
                group, classreport.NOT_RUN, "the class run was interrupted", seconds, code, report=report
            )
        if timed_out:
            partial = " (its partial report is shown)" if report is not None else ""
            reason = f"no result after {classreport.duration(self.timeout)}: stopped{partial}"
            return GroupResult(group, classreport.TIMEOUT, reason, seconds, code, report=report)
        if report is None:
            return GroupResult(
                group, classreport.ERROR, failure_reason(_read_log(folder / LOG_FILE), code), seconds, code
            )
        interrupted = report["header"].get("interrupted")
        if interrupted:
            return GroupResult(group, classreport.ERROR, _one_line(str(interrupted)), seconds, code, report=report)
        return GroupResult(group, classreport.GRADED, "", seconds, code, report=report)

    def kept(self, group: Group) -> GroupResult | None:
        """The group's earlier grading, when it is complete and no regrade is asked."""
        if self.regrade:
            return None
        folder = self.out_dir / group.folder
        report = complete_report(folder)
        if report is None:
            return None
        run = _run_file(folder) or {}
        seconds = run.get("seconds")
        return GroupResult(
            group,
            classreport.GRADED,
            seconds=float(seconds) if isinstance(seconds, int | float) else _report_seconds(report),
            exit_code=run.get("exit_code"),
            resumed=True,
            report=report,
        )

    # --- the class --------------------------------------------------------------------------------

    def run(self) -> list[GroupResult]:
        """Grade every group (the kept ones aside); the class report is rewritten as each one ends."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._started = time.monotonic()
        pending: list[Group] = []
        for group in self.groups:
            kept = self.kept(group)
            if kept is None:
                pending.append(group)
            else:
                self.results[group.name] = kept
        self._to_run = len(pending)
        for group in pending:
            if group.raw is not None and not group.raw.get("kubeconfig"):
                self._write(f"note: {group.name}'s target names no kubeconfig: it is graded on the local kind cluster")
        self._write(
            f"{len(self.groups)} groups, {len(self.groups) - len(pending)} kept from an earlier run; "
            f"grading {len(pending)}, {self.concurrency} at a time, into {self.out_dir}"
        )
        for group in self.groups:
            if group.name in self.results:
                self._finished(self.results[group.name])
        executor = concurrent.futures.ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="grade")
        futures = {executor.submit(self.grade_one, g): g for g in pending}
        try:
            for future in concurrent.futures.as_completed(futures):
                group = futures[future]
                try:
                    result = future.result()
                except Exception as exc:  # a bug of ours: still that group's line only
                    result = GroupResult(group, classreport.ERROR, f"kubedefis: {type(exc).__name__}: {exc}")
                self.results[group.name] = result
                self._finished(result)
        except KeyboardInterrupt:
            self.interrupt()
            executor.shutdown(wait=True, cancel_futures=True)
            for future, group in futures.items():
                if future.done() and not future.cancelled() and future.exception() is None:
                    self.results.setdefault(group.name, future.result())
                self.results.setdefault(
                    group.name,
                    GroupResult(group, classreport.NOT_RUN, "the class run was interrupted before this group"),
                )
            self.write_report()
            raise
        executor.shutdown(wait=True)
        self.write_report()
        return self.ordered()

    def interrupt(self) -> None:
        """Stop every grading under way (SIGINT to each session, then SIGKILL) and start no other."""
        self._stopping.set()
        with self._lock:
            for proc in self._running.values():
                _signal_group(proc.pid, signal.SIGINT)
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline:
            with self._lock:
                if not self._running:
                    return
            time.sleep(0.1)
        with self._lock:  # the workers reap their process only after taking this lock: the ids are still theirs
            for proc in self._running.values():
                _signal_group(proc.pid, signal.SIGKILL)

    def ordered(self) -> list[GroupResult]:
        return [self.results[g.name] for g in self.groups if g.name in self.results]

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        for group in self.groups:
            result = self.results.get(group.name)
            if result is None:
                result = GroupResult(group, classreport.NOT_RUN, "not graded yet")
            # an error's report (a run stopped at its start: no cluster, expired token) has no score to show
            scored = result.report if result.status in (classreport.GRADED, classreport.TIMEOUT) else None
            has_page = (self.out_dir / group.folder / "report.html").exists()
            rows.append(
                classreport.group_row(
                    group.name,
                    status=result.status,
                    reason=result.reason,
                    seconds=result.seconds,
                    report=scored,
                    report_href=f"{group.folder}/report.html" if has_page else None,
                    target_file=str(group.target),
                    namespace=group.namespace,
                    commit=group.commit,
                    chart_version=group.chart_version,
                    exit_code=result.exit_code,
                    resumed=result.resumed,
                )
            )
        return rows

    def write_report(self) -> dict[str, Path]:
        data = classreport.build(
            self.rows(),
            wall_seconds=time.monotonic() - self._started,
            concurrency=self.concurrency,
            options={
                "allow_disruption": self.allow_disruption,
                "timeout": self.timeout,
                "extra_args": self.extra_args,
                "regrade": self.regrade,
            },
        )
        return classreport.write(self.out_dir, data)

    # --- console ----------------------------------------------------------------------------------

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def _finished(self, result: GroupResult) -> None:
        self._done += 1
        if not result.resumed:
            self._done_run += 1
            try:
                self.write_report()
            except OSError as exc:
                self._write(f"kubedefis: cannot write the class report yet: {exc}")
        self._write(self.progress_line(result))

    def progress_line(self, result: GroupResult) -> str:
        """`[ 3/30] u-123  graded  87/120 passed (4 min 03 s) · 12 min 30 s so far, about 1 h 05 min left`."""
        width = len(str(len(self.groups)))
        name = max((len(g.name) for g in self.groups), default=0)
        line = f"[{self._done:>{width}}/{len(self.groups)}] {result.group.name:<{name}}  "
        line += f"{result.status if result.status == classreport.GRADED else result.status.upper():<8}"
        if result.report is not None and result.status in (classreport.GRADED, classreport.TIMEOUT):
            totals = result.report["totals"]["requirements"]
            line += f"{totals['passed']}/{sum(totals.values())} passed"
            if totals["failed"]:
                line += f", {totals['failed']} failed"
            if result.reason:
                line += " · "
        line += _one_line(result.reason, 200)
        if result.resumed:
            return line + " (kept from an earlier run)"
        line += f" ({classreport.duration(result.seconds)})"
        elapsed = time.monotonic() - self._started
        left = self._to_run - self._done_run
        line += f" · {classreport.duration(elapsed)} so far"
        if left and self._first_launch is not None:
            rate = (
                time.monotonic() - self._first_launch
            ) / self._done_run  # wall seconds per group, concurrency included
            line += f", about {classreport.duration(rate * left)} left"
        return line


def grade_class(
    targets: Sequence[Path],
    out_dir: Path,
    *,
    concurrency: int = 1,
    timeout: float = DEFAULT_TIMEOUT,
    grace: float = DEFAULT_GRACE,
    regrade: bool = False,
    allow_disruption: bool = False,
    extra_args: Sequence[str] = (),
    grade_command: Sequence[str] = GRADE_COMMAND,
    stream: IO[str] | None = None,
) -> list[GroupResult]:
    """Grade the groups of these target files (files, or folders of *.yaml) into out_dir/<group>/."""
    grading = ClassGrading(
        discover(targets),
        out_dir,
        concurrency=concurrency,
        timeout=timeout,
        grace=grace,
        regrade=regrade,
        allow_disruption=allow_disruption,
        extra_args=extra_args,
        grade_command=grade_command,
        stream=stream,
    )
    return grading.run()


# --- command line -----------------------------------------------------------------------------------


def add_class_options(parser: argparse.ArgumentParser) -> None:
    """The options of a class run, for `kubedefis grade` (grade.py) as for this module's own command line."""
    group = parser.add_argument_group("grading a class (--target given several times, or a folder of target files)")
    group.add_argument(
        "--concurrency", "-j", type=int, default=1, metavar="N", help="groups graded at the same time (default 1)"
    )
    group.add_argument(
        "--group-timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"stop a group's grading after this long (default {DEFAULT_TIMEOUT:.0f})",
    )
    group.add_argument("--regrade", action="store_true", help="grade again the groups already graded in --report-dir")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("targets", nargs="+", type=Path, metavar="TARGET", help="target files, or folders of them")
    parser.add_argument("--report-dir", type=Path, required=True, metavar="DIR", help="the class's output folder")
    parser.add_argument(
        "--allow-disruption", action="store_true", help="allow destructive checks (pod deletion, load, attacks)"
    )
    parser.add_argument("--defis", metavar="N,N,...", help="défis to grade (passed to each group's grading)")
    parser.add_argument("--static-only", action="store_true", help="only the checks that need no cluster")
    add_class_options(parser)


def is_class(targets: Sequence[str | Path] | None) -> bool:
    """Whether `kubedefis grade --target ...` grades a class: several targets, or a folder of them."""
    return bool(targets) and (len(targets or ()) > 1 or any(Path(t).is_dir() for t in targets or ()))


def grade_args(args: argparse.Namespace) -> int:
    """`kubedefis grade` over a class, from grade.py's parsed options (--target given several times or a folder).

    The options that describe one stack (--kubeconfig, --context, --namespace, --handin) belong in each
    group's target file; --defis, --static-only and --suite are passed to every group's grading.
    """
    single = [
        f"--{o.replace('_', '-')}" for o in ("kubeconfig", "context", "namespace", "handin") if getattr(args, o, None)
    ]
    if single:
        print(
            f"kubedefis grade: error: {', '.join(single)} grade one stack: give them in each group's target file",
            file=sys.stderr,
        )
        return USAGE_ERROR
    extra: list[str] = []
    if getattr(args, "defis", None):
        extra += ["--defis", args.defis]
    if getattr(args, "static_only", False):
        extra.append("--static-only")
    if getattr(args, "suite", None):
        extra += ["--suite", str(Path(args.suite).resolve())]
    import datetime

    out = Path(args.report_dir or Path("reports") / datetime.datetime.now().strftime("class-%Y%m%d-%H%M%S"))
    try:
        results = grade_class(
            [Path(t) for t in args.target],
            out,
            concurrency=getattr(args, "concurrency", 1),
            timeout=getattr(args, "group_timeout", DEFAULT_TIMEOUT),
            regrade=getattr(args, "regrade", False),
            allow_disruption=bool(args.allow_disruption),
            extra_args=extra,
        )
    except UsageError as exc:
        print(f"kubedefis grade: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print(f"\ninterrupted: the class report in {out} has the groups graded so far", file=sys.stderr)
        return INTERRUPTED
    print(f"\nclass report: {out / 'class.html'} (and class.csv, class.json)")
    return 0 if all(r.status == classreport.GRADED for r in results) else SOME_NOT_GRADED
