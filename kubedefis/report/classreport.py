"""The class report: every group of a class × every défi, as one HTML page, a gradebook CSV and JSON.

A row is a group, a column a défi; a cell shows the défi's requirements passed / total, in a colour,
and links to that défi in the group's own report.html. A group that could not be graded shows why
instead of its cells. Each row also opens, in one click (a <details> element), the group's first
failed requirement: what was expected and found, the message and the Kubernetes evidence.

The page is self-contained: inline CSS, no script, no external asset; it renders the same offline.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import os
import re
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from kubedefis.report import html, model

SCHEMA = "kubedefis-class/1"

# A group's status in the class: graded (a complete report), error (no usable report: the reason says
# why), timeout (stopped after the per-group deadline), not-run (the class run stopped before it).
GRADED, ERROR, TIMEOUT, NOT_RUN = "graded", "error", "timeout", "not-run"
STATUSES = (GRADED, ERROR, TIMEOUT, NOT_RUN)

OTHER = "other"  # the column of tests outside any défi module
CLIP_MESSAGE = 1500  # characters of a failure's message shown on the class page
CLIP_EVIDENCE = 4000  # and of its evidence: the whole of it is in the group's report

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; padding: 1.2em;
       color: #1d2330; background: #fafbfc; }
h1 { margin: 0 0 .3em; } p { margin: .3em 0; }
table.class { border-collapse: collapse; background: #fff; }
table.class th, table.class td { border: 1px solid #dde3ea; padding: .25em .45em; vertical-align: top; }
table.class thead th { background: #eef2f6; position: sticky; top: 0; z-index: 1; }
th.group { text-align: left; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.cell { text-align: center; white-space: nowrap; font-variant-numeric: tabular-nums; min-width: 2.6em; }
td.cell a { color: inherit; text-decoration: none; display: block; }
td.cell a:hover { text-decoration: underline; }
.c-full { background: #2e7d32; color: #fff; } .c-part { background: #f9a825; color: #1d2330; }
.c-zero { background: #c62828; color: #fff; } .c-skip { background: #b7bcc4; color: #1d2330; }
.c-na { background: #f6f7f9; color: #8a8f98; }
.badge { display: inline-block; border-radius: 3px; padding: 0 .4em; font-size: 12px; font-weight: 600; color: #fff; }
.s-graded { background: #2e7d32; } .s-error, .s-timeout { background: #c62828; } .s-not-run { background: #8a8f98; }
td.reason { background: #fff7f7; color: #7f1d1d; }
.muted { color: #6b7280; font-size: 12px; font-weight: normal; }
details { max-width: 40em; } summary { cursor: pointer; color: #1f4e9c; white-space: nowrap; }
table.findings { border-collapse: collapse; margin: .3em 0; }
table.findings th, table.findings td { border: 1px solid #e5c7c7; padding: .2em .4em;
                                       font: 12px ui-monospace, monospace; }
table.findings th { background: #fbeaea; }
pre { white-space: pre-wrap; word-break: break-word; background: #f3f5f8; padding: .5em; margin: .3em 0;
      font: 12px/1.35 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; max-height: 24em; overflow: auto; }
.legend span { display: inline-block; padding: 0 .5em; margin-right: .4em; border-radius: 3px; }
"""


# --- from a group's report to its row ---------------------------------------------------------------


def defi_key(defi: int | None) -> str:
    return OTHER if defi is None else str(defi)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "\n…(cut: the whole text is in the group's report)"


def requirement_anchor(defi: int | None, requirement: str) -> str:
    """The fragment of a requirement in the group's report.html: its own anchor when the report has them
    (`html.requirement_anchor`), else its défi's section, which every report has."""
    own = getattr(html, "requirement_anchor", None)
    if callable(own):
        return str(own(requirement))
    return f"defi-{'none' if defi is None else defi}"


def first_failure(report: dict[str, Any]) -> dict[str, Any] | None:
    """The first failed requirement of a report (défis in order), with its first failed test's details."""
    tests = {t["nodeid"]: t for t in report.get("tests", [])}
    for defi in report.get("defis", []):
        for cell in defi["requirements"]:
            if cell["status"] != model.FAILED:
                continue
            failed = [
                tests[n] for n in cell["tests"] if n in tests and tests[n]["outcome"] in (model.FAILED, model.ERROR)
            ]
            test = failed[0] if failed else {}
            return {
                "defi": defi["defi"],
                "requirement": cell["id"],
                "text": "; ".join(cell.get("texts") or []),
                "test": test.get("nodeid", ""),
                "findings": test.get("findings", []),
                "message": _clip(test.get("message", ""), CLIP_MESSAGE),
                "evidence": _clip(test.get("evidence", ""), CLIP_EVIDENCE),
                "anchor": requirement_anchor(defi["defi"], cell["id"]),
            }
    return None


def group_row(
    group: str,
    *,
    status: str,
    reason: str = "",
    seconds: float | None = None,
    report: dict[str, Any] | None = None,
    report_href: str | None = None,
    target_file: str | None = None,
    namespace: str | None = None,
    commit: str | None = None,
    chart_version: str | None = None,
    exit_code: int | None = None,
    resumed: bool = False,
) -> dict[str, Any]:
    """One group's line of the class report (what class.json holds for it).

    Its cells come from `report` (none: the reason takes their place); `report_href` is the group's
    report.html relative to the class page, when there is one.
    """
    defis: dict[str, dict[str, Any]] = {}
    totals = {"passed": 0, "failed": 0, "skipped": 0, "total": 0}
    denied: list[str] = []
    notes: list[str] = []
    if report is not None:
        for defi in report.get("defis", []):
            counts = dict(defi["totals"])
            counts["total"] = sum(defi["totals"].values())
            counts["failed_requirements"] = [c["id"] for c in defi["requirements"] if c["status"] == model.FAILED]
            defis[defi_key(defi["defi"])] = counts
            for state in model.CELL_STATES:
                totals[state] += defi["totals"][state]
            totals["total"] += counts["total"]
        head = report.get("header", {})
        denied = list((head.get("permissions") or {}).get("denied") or [])
        if head.get("interrupted") and status == GRADED:
            notes.append(f"the run stopped early: {head['interrupted']}")
        notes += [f"could not collect {e['nodeid']}" for e in head.get("collection_errors") or []]
    return {
        "group": group,
        "status": status,
        "reason": reason,
        "seconds": None if seconds is None else round(seconds, 1),
        "exit_code": exit_code,
        "resumed": resumed,
        "target_file": target_file,
        "namespace": namespace,
        "commit": commit,
        "chart_version": chart_version,
        "report": report_href,
        "defis": defis,
        "totals": totals,
        "denied": denied,
        "notes": notes,
        "first_failure": first_failure(report) if report is not None else None,
    }


def _defi_sort_key(key: str) -> tuple[int, int]:
    return (1, 0) if key == OTHER else (0, int(key))


def build(
    rows: Sequence[dict[str, Any]],
    *,
    wall_seconds: float | None = None,
    concurrency: int | None = None,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """class.json: the défis seen in any group, the rows in the given order, counts per status."""
    keys = sorted({k for row in rows for k in row["defis"]}, key=_defi_sort_key)
    statuses = dict.fromkeys(STATUSES, 0)
    for row in rows:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    return {
        "schema": SCHEMA,
        "generated": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "wall_seconds": None if wall_seconds is None else round(wall_seconds, 1),
        "concurrency": concurrency,
        "options": options or {},
        "defis": keys,
        "statuses": statuses,
        "groups": list(rows),
    }


# --- HTML -------------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def duration(seconds: float | None) -> str:
    """`42 s`, `4 min 03 s`, `1 h 05 min`."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def cell_class(counts: dict[str, Any] | None) -> str:
    """c-full: all passed; c-zero: none passed and some failed; c-part: some passed, some failed;
    c-skip: none failed but some not checked (skipped); c-na: the défi was not graded for this group."""
    if not counts or not counts.get("total"):
        return "c-na"
    if counts["passed"] == counts["total"]:
        return "c-full"
    if counts["failed"]:
        return "c-part" if counts["passed"] else "c-zero"
    return "c-skip"


def _href(row: dict[str, Any], fragment: str = "") -> str:
    base = "/".join(quote(part) for part in str(row["report"]).split("/"))
    return f"{base}#{quote(fragment)}" if fragment else base


def _column_title(key: str) -> str:
    return "other tests" if key == OTHER else f"Défi {key}"


def _cell(row: dict[str, Any], key: str) -> str:
    counts = row["defis"].get(key)
    css = cell_class(counts)
    if counts is None:
        return f'<td class="cell {css}">—</td>'
    text = f"{counts['passed']}/{counts['total']}"
    failed = counts.get("failed_requirements") or []
    title = f"{_column_title(key)}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
    if failed:
        title += " — failed: " + ", ".join(failed)
    anchor = f"defi-{'none' if key == OTHER else key}"
    shown = f'<a href="{_e(_href(row, anchor))}">{text}</a>' if row["report"] else text
    return f'<td class="cell {css}" title="{_e(title)}">{shown}</td>'


def _failure(row: dict[str, Any]) -> str:
    failure = row["first_failure"]
    if not failure:
        return ""
    parts = [f"<p>{_e(failure['text'])}<br><code class=muted>{_e(failure['test'])}</code></p>"]
    if failure["findings"]:
        rows = "".join(
            f"<tr><td>{_e(f['expected'])}</td><td>{_e(f['found'])}</td><td>{_e(f['where'])}</td></tr>"
            for f in failure["findings"]
        )
        parts.append(f'<table class="findings"><tr><th>Expected</th><th>Found</th><th>Where</th></tr>{rows}</table>')
    if failure["message"]:
        parts.append(f'<pre class="message">{_e(failure["message"])}</pre>')
    if failure["evidence"]:
        parts.append(f'<p class="muted">Kubernetes evidence</p><pre class="evidence">{_e(failure["evidence"])}</pre>')
    if row["report"]:
        parts.append(f'<p><a href="{_e(_href(row, failure["anchor"]))}">in {_e(row["group"])}\'s report</a></p>')
    failed = sum(len(c.get("failed_requirements") or []) for c in row["defis"].values())
    more = f" (+{failed - 1} more)" if failed > 1 else ""
    return (
        f'<details class="first-failure"><summary>{_e(failure["requirement"])}{_e(more)}</summary>'
        + "".join(parts)
        + "</details>"
    )


def _group_header(row: dict[str, Any]) -> str:
    name = _e(row["group"])
    link = f'<a href="{_e(_href(row))}">{name}</a>' if row["report"] else name
    facts = [f"ns {row['namespace']}" if row.get("namespace") else ""]
    facts += [f"commit {row['commit']}" if row.get("commit") else ""]
    facts += [f"chart {row['chart_version']}" if row.get("chart_version") else ""]
    shown = " · ".join(f for f in facts if f)
    return f'<th class="group" id="group-{_e(row["group"])}">{link}' + (
        f'<br><span class="muted">{_e(shown)}</span></th>' if shown else "</th>"
    )


def _row(row: dict[str, Any], keys: list[str]) -> str:
    status = row["status"]
    badge = f'<span class="badge s-{_e(status)}">{_e(status)}</span>'
    if row["resumed"]:
        badge += ' <span class="muted">kept</span>'
    notes = list(row.get("notes") or [])
    if row.get("denied"):
        notes.append("rights denied: " + ", ".join(row["denied"]))
    if notes:
        badge += "".join(f'<br><span class="muted">{_e(n)}</span>' for n in notes)
    head = f"{_group_header(row)}<td>{badge}</td><td class=num>{_e(duration(row['seconds']))}</td>"
    totals = row["totals"]
    if not row["defis"]:
        reason = row["reason"] or "no report"
        return f'<tr class="row-{_e(status)}">{head}<td class="reason" colspan="{len(keys) + 2}">{_e(reason)}</td></tr>'
    cells = "".join(_cell(row, k) for k in keys)
    total = f"{totals['passed']}/{totals['total']}"
    last = _failure(row)
    if row["reason"]:
        last = f'<div class="reason">{_e(row["reason"])}</div>{last}'
    return (
        f'<tr class="row-{_e(status)}">{head}{cells}'
        f'<td class="num total {cell_class(totals)}">{total}</td><td>{last}</td></tr>'
    )


def _footer(rows: Sequence[dict[str, Any]], keys: list[str]) -> str:
    graded = [r for r in rows if r["defis"]]
    cells = []
    for key in keys:
        full = sum(1 for r in graded if cell_class(r["defis"].get(key)) == "c-full")
        cells.append(
            f'<td class="num" title="groups with every requirement of the défi passed">{full}/{len(graded)}</td>'
        )
    return f'<tr><th class="group">groups with all passed</th><td></td><td></td>{"".join(cells)}<td></td><td></td></tr>'


def render(data: dict[str, Any]) -> str:
    """class.html: one self-contained page."""
    keys: list[str] = list(data["defis"])
    rows: list[dict[str, Any]] = data["groups"]
    statuses = ", ".join(f"{n} {s}" for s, n in data["statuses"].items() if n)
    facts = f"{len(rows)} groups: {statuses}"
    if data.get("wall_seconds") is not None:
        facts += f" · wall time {duration(data['wall_seconds'])}"
    if data.get("concurrency"):
        facts += f" · {data['concurrency']} at a time"
    columns = "".join(f'<th title="{_e(_column_title(k))}">{"D" + _e(k) if k != OTHER else "other"}</th>' for k in keys)
    legend = (
        '<p class="legend"><span class="c-full">all passed</span><span class="c-part">some failed</span>'
        '<span class="c-zero">none passed</span><span class="c-skip">not all checked (skipped), none failed</span>'
        '<span class="c-na">not graded</span> A cell is requirements passed / total; it opens the défi in the'
        " group's report.</p>"
    )
    body = "".join(_row(r, keys) for r in rows)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>kubedefis class report</title><style>{_CSS}</style></head><body>"
        f"<h1>Class report</h1><p>{_e(facts)} · generated {_e(data['generated'])} (UTC)</p>{legend}"
        '<table class="class" id="class"><thead><tr><th class="group">Group</th><th>Status</th><th>Time</th>'
        f"{columns}<th>Total</th><th>First failure</th></tr></thead><tbody>{body}</tbody>"
        f"<tfoot>{_footer(rows, keys)}</tfoot></table></body></html>\n"
    )


# --- CSV (gradebook) --------------------------------------------------------------------------------


def csv_rows(data: dict[str, Any]) -> Iterable[list[str]]:
    keys: list[str] = list(data["defis"])
    yield [
        "group",
        *(f"D{k}" if k != OTHER else OTHER for k in keys),
        "total",
        "passed",
        "requirements",
        "status",
        "seconds",
        "reason",
        "commit",
        "chart_version",
    ]
    for row in data["groups"]:
        cells = []
        for key in keys:
            counts = row["defis"].get(key)
            cells.append(f"{counts['passed']}/{counts['total']}" if counts else "")
        totals = row["totals"]
        graded = bool(row["defis"])
        yield [
            row["group"],
            *cells,
            f"{totals['passed']}/{totals['total']}" if graded else "",
            str(totals["passed"]) if graded else "",
            str(totals["total"]) if graded else "",
            row["status"],
            "" if row["seconds"] is None else f"{row['seconds']:.1f}",
            row["reason"],
            row.get("commit") or "",
            row.get("chart_version") or "",
        ]


def render_csv(data: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(csv_rows(data))
    return out.getvalue()


# --- files ------------------------------------------------------------------------------------------


def _write_atomically(path: Path, text: str) -> None:
    # a reader (a browser open on class.html, a resumed run) never sees half a file
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def write(out_dir: Path, data: dict[str, Any]) -> dict[str, Path]:
    """Write class.json, class.csv and class.html into out_dir; their paths by kind."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"json": out_dir / "class.json", "csv": out_dir / "class.csv", "html": out_dir / "class.html"}
    _write_atomically(files["json"], json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    _write_atomically(files["csv"], render_csv(data))
    _write_atomically(files["html"], render(data))
    return files


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def folder_name(group: str) -> str:
    """A group's folder under the class's output folder (and the part of its links to it)."""
    name = _SAFE.sub("-", group).strip("-.")
    return name or "group"
