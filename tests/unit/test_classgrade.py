"""Class grading (commands.classgrade) with a fake `kubedefis grade`, and the class report's data and speed."""

from __future__ import annotations

import csv
import io
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedefis.commands import classgrade, grade
from kubedefis.report import classreport, model
from kubedefis.report.model import FindingRecord, TestRecord

# Stands in for `python -m kubedefis grade`: it takes the same options and does what the target file's
# `fake:` key says, writing a report built with kubedefis.report.model like the real one. It appends
# what it was asked (and when) to $FAKE_GRADE_LOG, one JSON line at start and one at the end.
FAKE_GRADE = r"""
import argparse, json, os, signal, subprocess, sys, time
from pathlib import Path

import yaml

from kubedefis.report import html, model
from kubedefis.report.model import FindingRecord, TestRecord

parser = argparse.ArgumentParser()
parser.add_argument("--target", required=True)
parser.add_argument("--report-dir", required=True)
parser.add_argument("--allow-disruption", action="store_true")
parser.add_argument("--defis")
args, _ = parser.parse_known_args()
raw = yaml.safe_load(Path(args.target).read_text()) or {}
fake = raw.get("fake") or {}
behaviour = fake.get("behaviour", "pass")
out = Path(args.report_dir)
group = out.name


def note(event, **extra):
    line = {"event": event, "group": group, "time": time.time(), "pid": os.getpid(), **extra}
    with open(os.environ["FAKE_GRADE_LOG"], "a") as log:
        log.write(json.dumps(line) + "\n")


def records(failing):
    found = []
    for defi in (1, 2, 3):
        for n in (1, 2):
            rid = f"D{defi}.{n}"
            record = TestRecord(f"conformance/test_defi{defi}.py::test_{n}", f"conformance/test_defi{defi}.py",
                                defi, rid, f"requirement {rid}")
            record.outcome, record.skip_reason, record.duration = model.PASSED, "", 0.1
            if rid in failing:
                record.outcome = model.FAILED
                record.message = f"{rid}: expected 3 replicas"
                record.findings = [FindingRecord("Deployment/api", "3 replicas", "2")]
                record.evidence = f"pods in {raw.get('namespace')}:\n  api-7d9f Running <restarts=4>"
            if rid in fake.get("skipped", []):
                record.outcome, record.skip_reason = model.SKIPPED, "the credentials cannot create pods/exec"
            found.append(record)
    return found


def write(failing, interrupted=""):
    header = {"date": "2026-11-26T10:00:00+00:00", "finished": "2026-11-26T10:00:03+00:00",
              "target": {"target_file": args.target, "namespace": raw.get("namespace")}, "versions": {},
              "permissions": {"denied": fake.get("denied", []), "checked": 3}, "interrupted": interrupted,
              "collection_errors": []}
    report = model.build(records(failing), header)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report))
    (out / "report.html").write_text(html.render(report))


from kubedefis.commands import classgrade

classgrade.answer_interrupts()  # as `kubedefis grade` does before pytest starts
note("start", argv=sys.argv[1:], keys=sorted(raw), kubeconfig=raw.get("kubeconfig"))
if behaviour in ("hang", "hang-partial"):
    child = subprocess.Popen(["sleep", "300"])
    note("child", child=child.pid)
    if behaviour == "hang":
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # an API call that does not give up
    try:
        time.sleep(300)
    except KeyboardInterrupt:
        write(["D1.1"], interrupted="KeyboardInterrupt")
        sys.exit(2)
time.sleep(float(fake.get("sleep", 0)))
if behaviour == "crash":
    print("Traceback (most recent call last):\nRuntimeError: the fake grade crashed", file=sys.stderr)
    sys.exit(1)
if behaviour == "usage":
    print("kubedefis grade: error: kubeconfig /nowhere/kc.yaml does not exist", file=sys.stderr)
    sys.exit(2)
if behaviour == "no-cluster":
    write([], interrupted="kubedefis: no cluster to test: Unauthorized (the token has expired)")
    sys.exit(2)
failing = fake.get("failing", [])
write(failing)
note("end")
sys.exit(1 if failing else 0)
"""


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The fake grade command; its log is $FAKE_GRADE_LOG."""
    script = tmp_path / "fake_grade.py"
    script.write_text(FAKE_GRADE)
    monkeypatch.setenv("FAKE_GRADE_LOG", str(tmp_path / "calls.jsonl"))
    return [sys.executable, str(script)]


def _calls(tmp_path: Path, event: str = "start") -> list[dict[str, Any]]:
    path = tmp_path / "calls.jsonl"
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [line for line in lines if line["event"] == event]


def _alive(pid: int) -> bool:
    """Whether a process runs (a zombie waiting for its reaper does not)."""
    for _ in range(50):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return False
        if state in ("Z", "X"):
            return False
        time.sleep(0.1)  # SIGKILL is delivered, not yet acted on
    return True


def _targets(folder: Path, **groups: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, fake in groups.items():
        target = {"namespace": name, "deployed": True, "fake": fake}
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(target))
    return folder


def _grade(targets: list[Path], out: Path, fake: list[str], **options: Any) -> tuple[list[classgrade.GroupResult], str]:
    stream = io.StringIO()
    options.setdefault("timeout", 60)
    results = classgrade.grade_class(targets, out, grade_command=fake, stream=stream, **options)
    return results, stream.getvalue()


def _rows(out: Path) -> dict[str, dict[str, Any]]:
    data = json.loads((out / "class.json").read_text())
    assert data["schema"] == classreport.SCHEMA
    return {row["group"]: row for row in data["groups"]}


def _comparable(row: dict[str, Any]) -> dict[str, Any]:
    """A row without what differs from one run to the next (time, where the report lives)."""
    return {k: v for k, v in row.items() if k not in ("seconds", "resumed", "report", "target_file")}


def test_every_group_gets_its_line_whatever_happens_to_the_others(tmp_path: Path, fake: list[str]) -> None:
    targets = _targets(
        tmp_path / "class",
        u1={"behaviour": "pass"},
        u2={"behaviour": "crash"},
        u3={"behaviour": "fail", "failing": ["D2.1"]},
        u4={"behaviour": "usage"},
        u5={"behaviour": "no-cluster"},
        u6={"behaviour": "pass", "skipped": ["D3.2"], "denied": ["create pods/exec"]},
    )
    out = tmp_path / "out"
    results, console = _grade([targets], out, fake, concurrency=2)

    assert [r.group.name for r in results] == ["u1", "u2", "u3", "u4", "u5", "u6"]
    rows = _rows(out)
    assert {g: r["status"] for g, r in rows.items()} == {
        "u1": "graded",
        "u2": "error",
        "u3": "graded",
        "u4": "error",
        "u5": "error",
        "u6": "graded",
    }
    assert rows["u1"]["totals"] == {"passed": 6, "failed": 0, "skipped": 0, "total": 6}
    assert rows["u3"]["defis"]["2"] == {
        "passed": 1,
        "failed": 1,
        "skipped": 0,
        "total": 2,
        "failed_requirements": ["D2.1"],
    }
    assert rows["u2"]["reason"] == "RuntimeError: the fake grade crashed" and rows["u2"]["exit_code"] == 1
    assert rows["u4"]["reason"] == "kubeconfig /nowhere/kc.yaml does not exist"
    assert rows["u5"]["reason"] == "kubedefis: no cluster to test: Unauthorized (the token has expired)"
    assert rows["u6"]["denied"] == ["create pods/exec"] and rows["u6"]["defis"]["3"]["skipped"] == 1
    failure = rows["u3"]["first_failure"]
    assert failure["requirement"] == "D2.1" and failure["anchor"].startswith(("defi-2", "req-"))
    assert failure["findings"] == [{"where": "Deployment/api", "expected": "3 replicas", "found": "2"}]
    assert "api-7d9f Running <restarts=4>" in failure["evidence"]

    # console: one line per group, with the time so far and what is left
    lines = [line for line in console.splitlines() if line.startswith("[")]
    assert len(lines) == 6 and all("so far" in line for line in lines)
    assert sum("left" in line for line in lines) >= 4  # every line but the last ones
    assert any("u2" in line and "ERROR" in line and "fake grade crashed" in line for line in lines)

    page = (out / "class.html").read_text()
    assert "kubeconfig /nowhere/kc.yaml does not exist" in page and 'href="u3/report.html#' in page
    gradebook = list(csv.reader(io.StringIO((out / "class.csv").read_text())))
    assert gradebook[0][:5] == ["group", "D1", "D2", "D3", "total"]
    by_group = {row[0]: dict(zip(gradebook[0], row, strict=True)) for row in gradebook[1:]}
    assert by_group["u3"]["D2"] == "1/2" and by_group["u3"]["total"] == "5/6" and by_group["u3"]["status"] == "graded"
    assert by_group["u2"]["total"] == "" and by_group["u2"]["status"] == "error"
    assert float(by_group["u1"]["seconds"]) > 0


def test_a_hung_group_is_stopped_with_its_children_at_its_deadline(tmp_path: Path, fake: list[str]) -> None:
    targets = _targets(tmp_path / "class", hung={"behaviour": "hang"}, ok={"behaviour": "pass"})
    started = time.monotonic()
    results, _ = _grade([targets], tmp_path / "out", fake, concurrency=2, timeout=3, grace=1)
    assert time.monotonic() - started < 30
    by_name = {r.group.name: r for r in results}
    assert by_name["hung"].status == "timeout" and "no result after 3 s" in by_name["hung"].reason
    assert by_name["ok"].status == "graded"
    (child,) = _calls(tmp_path, "child")
    for pid in (child["pid"], child["child"]):  # the grading and what it started (kubectl...) are gone
        assert not _alive(pid)
    assert _rows(tmp_path / "out")["hung"]["defis"] == {}


def test_a_group_interrupted_at_its_deadline_shows_its_partial_report_and_is_graded_again(
    tmp_path: Path, fake: list[str]
) -> None:
    targets = _targets(tmp_path / "class", slow={"behaviour": "hang-partial"})
    out = tmp_path / "out"
    # As when the class run itself was started in the background: its children inherit SIGINT ignored.
    # 10 s: the fake must be in its sleep (imports done) when the deadline interrupts it.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        (result,), _ = _grade([targets], out, fake, timeout=10, grace=20)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert result.status == "timeout" and "partial report" in result.reason
    row = _rows(out)["slow"]
    assert row["defis"]["1"]["failed"] == 1 and row["status"] == "timeout"
    assert classgrade.complete_report(out / "slow") is None  # a partial report is not kept
    _grade([targets], out, fake, timeout=10, grace=20)
    assert len(_calls(tmp_path)) == 2


def test_resume_keeps_complete_reports_and_grades_the_rest_again(tmp_path: Path, fake: list[str]) -> None:
    targets = _targets(tmp_path / "class", a={"behaviour": "pass"}, b={"behaviour": "crash"}, c={"failing": ["D1.2"]})
    out = tmp_path / "out"
    _grade([targets], out, fake)
    first = _rows(out)
    assert [c["group"] for c in _calls(tmp_path)] == ["a", "b", "c"]

    _, console = _grade([targets], out, fake)
    assert [c["group"] for c in _calls(tmp_path)][3:] == ["b"]  # only the group that could not be graded
    second = _rows(out)
    assert second["a"]["resumed"] and second["c"]["resumed"] and not second["b"]["resumed"]
    assert {g: _comparable(r) for g, r in second.items()} == {g: _comparable(r) for g, r in first.items()}
    assert second["a"]["seconds"] == first["a"]["seconds"]
    assert "kept from an earlier run" in console

    _grade([targets], out, fake, regrade=True)
    assert sorted(c["group"] for c in _calls(tmp_path)[4:]) == ["a", "b", "c"]


@pytest.mark.parametrize("concurrency", [1, 2])
def test_no_more_groups_than_asked_are_graded_at_once(tmp_path: Path, fake: list[str], concurrency: int) -> None:
    groups = {f"g{n}": {"sleep": 1.0} for n in range(4)}
    _grade([_targets(tmp_path / "class", **groups)], tmp_path / "out", fake, concurrency=concurrency)
    events = sorted(
        [(c["time"], 1) for c in _calls(tmp_path, "start")] + [(c["time"], -1) for c in _calls(tmp_path, "end")]
    )
    running, most = 0, 0
    for _, step in events:
        running += step
        most = max(most, running)
    assert most == concurrency


def test_a_broken_group_never_changes_another_groups_result(tmp_path: Path, fake: list[str]) -> None:
    specs = {
        "good": {"behaviour": "pass"},
        "half": {"failing": ["D1.1", "D3.2"], "skipped": ["D2.2"]},
        "crash": {"behaviour": "crash"},
        "hung": {"behaviour": "hang"},
        "expired": {"behaviour": "no-cluster"},
    }
    alone = {}
    for name in ("good", "half"):
        folder = _targets(tmp_path / f"alone-{name}", **{name: specs[name]})
        _grade([folder], tmp_path / f"out-{name}", fake)
        alone[name] = _comparable(_rows(tmp_path / f"out-{name}")[name])
    _grade([_targets(tmp_path / "class", **specs)], tmp_path / "out", fake, concurrency=2, timeout=4, grace=1)
    together = _rows(tmp_path / "out")
    assert {name: _comparable(together[name]) for name in alone} == alone
    assert {r["status"] for n, r in together.items() if n not in alone} == {"error", "timeout"}


def test_read_only_unless_disruption_is_asked(tmp_path: Path, fake: list[str]) -> None:
    targets = _targets(tmp_path / "class", a={})
    _grade([targets], tmp_path / "out", fake, extra_args=["--defis", "1,2"])
    _grade([targets], tmp_path / "out", fake, regrade=True, allow_disruption=True)
    first, second = (c["argv"] for c in _calls(tmp_path))
    assert "--allow-disruption" not in first and first[-2:] == ["--defis", "1,2"]
    assert "--allow-disruption" in second
    assert first[first.index("--report-dir") + 1] == str(tmp_path / "out" / "a")


def test_the_class_keys_of_a_target_name_the_group_and_reach_its_report(tmp_path: Path, fake: list[str]) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "kc.yaml").write_text("apiVersion: v1\n")
    (folder / "u-7.yaml").write_text(
        "group: Team 7\ncommit: 3f2a9c1\nchart_version: '1.4.0'\nnamespace: u-7\ndeployed: true\nkubeconfig: kc.yaml\n"
    )
    _grade([folder / "u-7.yaml"], tmp_path / "out", fake)
    row = _rows(tmp_path / "out")["Team 7"]
    assert row["commit"] == "3f2a9c1" and row["chart_version"] == "1.4.0" and row["report"] == "Team-7/report.html"
    (call,) = _calls(tmp_path)
    assert {"group", "commit", "chart_version"} <= set(call["keys"])  # grade reads the group's own file
    page = (tmp_path / "out" / "class.html").read_text()
    assert "commit 3f2a9c1" in page and "chart 1.4.0" in page


def test_usage_errors(tmp_path: Path, fake: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _targets(a, u1={})
    _targets(b, u1={})
    with pytest.raises(classgrade.UsageError, match="two target files grade group 'u1'"):
        _grade([a, b], tmp_path / "out", fake)
    (tmp_path / "empty").mkdir()
    with pytest.raises(classgrade.UsageError, match="no target file"):
        _grade([tmp_path / "empty"], tmp_path / "out", fake)
    with pytest.raises(classgrade.UsageError, match="concurrency"):
        _grade([a], tmp_path / "out", fake, concurrency=0)
    assert (
        grade.main(["--target", str(tmp_path / "nope"), "--target", str(a), "--report-dir", str(tmp_path / "o")]) == 2
    )
    assert "no such target file or folder" in capsys.readouterr().err


def test_failure_reason_prefers_grades_own_error_line() -> None:
    log = "grading défis 1 into x\nkubedefis grade: error: target file t.yaml: unknown keys ['grup']\n"
    assert classgrade.failure_reason(log, 2) == "target file t.yaml: unknown keys ['grup']"
    assert classgrade.failure_reason("", -9) == "killed by signal 9"
    assert classgrade.failure_reason("some output\nlast words\n", 3) == "exit status 3: last words"


# --- the class report -------------------------------------------------------------------------------


def synthetic_report(seed: int, defis: int = 20, per_defi: int = 6) -> dict[str, Any]:
    """A group's report.json: défis × requirements, some failed (findings, evidence), some skipped."""
    records = []
    for defi in range(1, defis + 1):
        for n in range(1, per_defi + 1):
            rid = f"D{defi}.{n}"
            record = TestRecord(
                f"conformance/test_defi{defi}.py::test_{n}", f"conformance/test_defi{defi}.py", defi, rid, f"req {rid}"
            )
            record.outcome, record.skip_reason = model.PASSED, ""
            roll = (seed * 7 + defi * 3 + n) % 11
            if roll == 0:
                record.outcome = model.FAILED
                record.message = f"{rid} failed"
                record.findings = [FindingRecord(f"Deployment/api-{seed}", "3 replicas", "2")]
                record.evidence = f"pods in u-{seed}: api Running <restarts=4>\n" * 200  # ~8 KB
            elif roll == 1:
                record.outcome, record.skip_reason = model.SKIPPED, "the credentials cannot delete pods"
            records.append(record)
    header = {"date": "2026-11-26T10:00:00+00:00", "finished": "2026-11-26T10:04:00+00:00", "interrupted": ""}
    return model.build(records, header)


def test_a_class_of_30_groups_and_120_requirements_is_small_and_fast(tmp_path: Path) -> None:
    started = time.perf_counter()
    rows = [
        classreport.group_row(
            f"u-{n:03d}",
            status="graded",
            seconds=240.0 + n,
            report=synthetic_report(n),
            report_href=f"u-{n:03d}/report.html",
        )
        for n in range(28)
    ]
    rows.append(classreport.group_row("u-900", status="error", reason="no cluster to test: Unauthorized"))
    rows.append(classreport.group_row("u-901", status="timeout", reason="no result after 30 min", seconds=1800))
    data = classreport.build(rows, wall_seconds=3600, concurrency=2)
    files = classreport.write(tmp_path, data)
    elapsed = time.perf_counter() - started

    page = files["html"].read_text()
    assert elapsed < 3.0, f"class report of 30 groups took {elapsed:.2f} s"
    assert len(page.encode()) < 600_000, f"class.html is {len(page.encode())} bytes"
    assert page.count('<td class="cell ') == 28 * 20
    assert "<script" not in page and "http://" not in page and "https://" not in page and "<link" not in page
    assert "no cluster to test: Unauthorized" in page
    gradebook = list(csv.reader(io.StringIO(files["csv"].read_text())))
    assert len(gradebook) == 31 and len(gradebook[0]) == 1 + 20 + 8
    assert json.loads(files["json"].read_text())["statuses"] == {"graded": 28, "error": 1, "timeout": 1, "not-run": 0}


@pytest.mark.parametrize(
    ("counts", "css"),
    [
        ({"passed": 4, "failed": 0, "skipped": 0, "total": 4}, "c-full"),
        ({"passed": 2, "failed": 1, "skipped": 1, "total": 4}, "c-part"),
        ({"passed": 0, "failed": 4, "skipped": 0, "total": 4}, "c-zero"),
        ({"passed": 3, "failed": 0, "skipped": 1, "total": 4}, "c-skip"),
        (None, "c-na"),
    ],
)
def test_cell_colours(counts: dict[str, int] | None, css: str) -> None:
    assert classreport.cell_class(counts) == css


def test_durations() -> None:
    assert [classreport.duration(s) for s in (None, 4.4, 243, 3900)] == ["—", "4 s", "4 min 03 s", "1 h 05 min"]


# --- with the real `kubedefis grade` (no cluster needed: these groups fail at their start) ----------

DEAD_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: expired}}]
contexts: [{name: c, context: {cluster: c, user: u, namespace: u-dead}}]
current-context: c
"""


def _broken_class(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "kc-dead.yaml").write_text(DEAD_KUBECONFIG)
    (folder / "u-dead.yaml").write_text("kubeconfig: kc-dead.yaml\nnamespace: u-dead\ndeployed: true\n")
    (folder / "u-typo.yaml").write_text("kubeconfig: kc-dead.yaml\nnamespce: u-typo\n")
    return folder


def _check_broken_class(out: Path) -> None:
    rows = _rows(out)
    assert rows["u-dead"]["status"] == "error" and "no cluster to test" in rows["u-dead"]["reason"]
    assert "127.0.0.1:1" in rows["u-dead"]["reason"] and rows["u-dead"]["report"] == "u-dead/report.html"
    assert rows["u-typo"]["status"] == "error" and "unknown keys ['namespce']" in rows["u-typo"]["reason"]


def test_the_real_grade_command_reports_each_broken_group(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _broken_class(tmp_path / "class")
    out = tmp_path / "out"
    targets = ["--target", str(folder / "u-dead.yaml"), "--target", str(folder / "u-typo.yaml")]
    code = grade.main([*targets, "--report-dir", str(out), "--concurrency", "2"])
    assert code == classgrade.SOME_NOT_GRADED
    _check_broken_class(out)
    console = capsys.readouterr().out
    assert console.count("ERROR") == 2 and "class report:" in console


def test_kubedefis_grade_grades_a_class_given_several_targets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _broken_class(tmp_path / "class")
    out = tmp_path / "out"
    args = ["--target", str(folder / "u-dead.yaml"), "--target", str(folder / "u-typo.yaml"), "--report-dir", str(out)]
    assert grade.main([*args, "--concurrency", "2", "--group-timeout", "120"]) == classgrade.SOME_NOT_GRADED
    _check_broken_class(out)
    head = json.loads((out / "u-dead" / "report.json").read_text())["header"]
    assert head["target"]["group"] == "u-dead"  # named after its file: its own report says so too
    assert grade.main([*args, "--namespace", "x"]) == classgrade.USAGE_ERROR
    assert "--namespace grade one stack" in capsys.readouterr().err
