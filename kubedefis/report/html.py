"""The report as one self-contained HTML page (inline CSS, no script, no external asset)."""

from __future__ import annotations

import re
from html import escape
from typing import Any

from kubedefis.report import model

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1200px;
       padding: 1.5em; color: #1d2330; background: #fafbfc; }
h1 { margin: 0 0 .3em; } h2 { margin-top: 1.8em; border-bottom: 2px solid #dde3ea; padding-bottom: .2em; }
h3 { margin: 1.4em 0 .4em; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { border: 1px solid #dde3ea; padding: .35em .6em; text-align: left; vertical-align: top; }
th { background: #eef2f6; }
table.meta { width: auto; } table.meta th { width: 11em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; min-width: 4.5em; text-align: center; border-radius: 3px; padding: 0 .4em;
         font-weight: 600; font-size: 12px; color: #fff; }
.passed, .xpassed { background: #2e7d32; } .failed, .error { background: #c62828; }
.skipped, .xfailed { background: #8a8f98; }
tr.cell-failed > td:first-child { border-left: 4px solid #c62828; }
tr.cell-passed > td:first-child { border-left: 4px solid #2e7d32; }
tr.cell-skipped > td:first-child { border-left: 4px solid #8a8f98; }
td.detail { background: #fff7f7; } td.skip { background: #f6f7f9; color: #4a5160; }
pre { white-space: pre-wrap; word-break: break-word; background: #f3f5f8; padding: .6em; margin: .3em 0;
      font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; max-height: 40em; overflow: auto; }
table.findings th { background: #fbeaea; } table.findings td { font-family: ui-monospace, monospace; font-size: 12px; }
details { margin: .3em 0; } summary { cursor: pointer; color: #1f4e9c; }
.bar { display: flex; height: .9em; min-width: 10em; border-radius: 3px; overflow: hidden; background: #e5e8ec; }
.bar span { display: block; height: 100%; }
.banner { background: #fff3cd; border: 1px solid #e0c46c; padding: .6em 1em; margin: 1em 0; }
.muted { color: #6b7280; } code { font-size: 12px; }
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _badge(state: str) -> str:
    return f'<span class="badge {_e(state)}">{_e(state)}</span>'


def _defi_name(defi: int | None) -> str:
    return f"Défi {defi}" if defi is not None else "Other tests"


def requirement_anchor(key: str) -> str:
    """The id of a requirement's first row (`#req-D2.3`): the class report links a failure to it."""
    return "req-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", key)


def _graded(target: dict[str, Any]) -> str:
    parts = [f"commit {target['commit']}" if target.get("commit") else ""]
    parts.append(f"chart version {target['chart_version']}" if target.get("chart_version") else "")
    return " · ".join(p for p in parts if p)


def _header(report: dict[str, Any]) -> str:
    head = report["header"]
    target, versions = head.get("target", {}), head.get("versions", {})
    rows = [("Group", target["group"])] if target.get("group") else []
    if _graded(target):
        rows.append(("Graded", _graded(target)))
    rows += [
        ("Date (UTC)", f"{head.get('date', '')} → {head.get('finished', '')}"),
        ("Target file", target.get("target_file") or "none (the suite's own stack)"),
        ("Cluster", target.get("api_server") or "not contacted (static checks only)"),
        ("Kubeconfig / context", f"{target.get('kubeconfig') or '—'} / {target.get('context') or 'current'}"),
        ("Namespace", target.get("namespace") or ", ".join(target.get("namespaces_used") or []) or "—"),
        (
            "Versions",
            f"kubedefis {versions.get('kubedefis')} · Kubernetes {versions.get('kubernetes') or '—'} · "
            f"Python {versions.get('python')} · pytest {versions.get('pytest')}",
        ),
    ]
    rights = head.get("permissions")
    if rights:
        denied = ", ".join(rights.get("denied") or []) or "none"
        rows.append(("Rights denied", f"{denied} ({rights.get('checked')} checked)"))
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    req, tests = report["totals"]["requirements"], report["totals"]["tests"]
    totals = (
        f"<p><strong>Requirements:</strong> {req['passed']} passed, {req['failed']} failed, {req['skipped']} skipped"
        f" &nbsp;·&nbsp; <strong>Tests:</strong> " + ", ".join(f"{n} {_e(k)}" for k, n in tests.items() if n) + "</p>"
    )
    banners = ""
    if head.get("interrupted"):
        banners += f'<div class="banner"><strong>The run stopped early:</strong> {_e(head["interrupted"])}</div>'
    for err in head.get("collection_errors") or []:
        banners += (
            f'<div class="banner"><strong>Could not collect {_e(err["nodeid"])}</strong>'
            f"<pre>{_e(err['message'])}</pre></div>"
        )
    title = f"Conformance report: {_e(target['group'])}" if target.get("group") else "Conformance report"
    return f'<h1>{title}</h1><table class="meta">{body}</table>{totals}{banners}'


def _bar(totals: dict[str, int]) -> str:
    whole = sum(totals.values()) or 1
    colours = {"passed": "#2e7d32", "failed": "#c62828", "skipped": "#8a8f98"}
    spans = "".join(
        f'<span style="width:{100 * totals[s] / whole:.1f}%;background:{c}"></span>' for s, c in colours.items()
    )
    return f'<div class="bar">{spans}</div>'


def _summary(report: dict[str, Any]) -> str:
    rows = "".join(
        f'<tr><td><a href="#defi-{_e(d["defi"])}">{_e(_defi_name(d["defi"]))}</a></td>'
        f'<td class="num">{d["totals"]["passed"]}</td><td class="num">{d["totals"]["failed"]}</td>'
        f'<td class="num">{d["totals"]["skipped"]}</td><td>{_bar(d["totals"])}</td></tr>'
        for d in report["defis"]
    )
    return (
        "<h2>Summary</h2><table><tr><th>Défi</th><th>Passed</th><th>Failed</th><th>Skipped</th><th></th></tr>"
        f"{rows}</table>"
    )


def _failure(test: dict[str, Any]) -> str:
    parts = []
    if test["findings"]:
        rows = "".join(
            f"<tr><td>{_e(f['expected'])}</td><td>{_e(f['found'])}</td><td>{_e(f['where'])}</td></tr>"
            for f in test["findings"]
        )
        parts.append(f'<table class="findings"><tr><th>Expected</th><th>Found</th><th>Where</th></tr>{rows}</table>')
    if test["message"]:
        parts.append(f"<pre>{_e(test['message'])}</pre>")
    if test["evidence"]:
        parts.append(f"<details><summary>Kubernetes evidence</summary><pre>{_e(test['evidence'])}</pre></details>")
    if test["traceback"]:
        parts.append(f"<details><summary>Traceback</summary><pre>{_e(test['traceback'])}</pre></details>")
    return "".join(parts)


def _defi_section(defi: dict[str, Any], tests: dict[str, dict[str, Any]]) -> str:
    rows = []
    for cell in defi["requirements"]:
        members = [tests[n] for n in cell["tests"]]
        label = (
            f"<strong>{_e(cell['id'])}</strong>" if cell["labelled"] else '<span class="muted">no requirement</span>'
        )
        first = True
        for test in members:
            lead = anchor = ""
            if first:
                span = len(members) + sum(1 for t in members if _has_detail(t))
                lead = f'<td rowspan="{span}">{label}</td><td rowspan="{span}">{_badge(cell["status"])}</td>'
                anchor = f' id="{_e(requirement_anchor(cell["id"]))}"'
                first = False
            rows.append(
                f'<tr{anchor} class="cell-{_e(cell["status"])}">{lead}<td>{_e(test["requirement_text"])}'
                f'<br><code class="muted">{_e(test["nodeid"])}</code></td>'
                f'<td>{_badge(test["outcome"])}</td><td class="num">{test["duration"]:.1f} s</td></tr>'
            )
            if test["outcome"] in (model.FAILED, model.ERROR):
                rows.append(f'<tr><td class="detail" colspan="3">{_failure(test)}</td></tr>')
            elif test["outcome"] in (model.SKIPPED, model.XFAILED) and test["skip_reason"]:
                rows.append(f'<tr><td class="skip" colspan="3">Skipped: {_e(test["skip_reason"])}</td></tr>')
    anchor = "none" if defi["defi"] is None else defi["defi"]
    return (
        f'<h3 id="defi-{_e(anchor)}">{_e(_defi_name(defi["defi"]))}</h3>'
        "<table><tr><th>Requirement</th><th>Status</th><th>Test</th><th>Outcome</th><th>Time</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _has_detail(test: dict[str, Any]) -> bool:
    return test["outcome"] in (model.FAILED, model.ERROR) or (
        test["outcome"] in (model.SKIPPED, model.XFAILED) and bool(test["skip_reason"])
    )


def _title_group(report: dict[str, Any]) -> str:
    group = report["header"].get("target", {}).get("group")
    return f": {_e(group)}" if group else ""


def render(report: dict[str, Any]) -> str:
    tests = {t["nodeid"]: t for t in report["tests"]}
    sections = "".join(_defi_section(d, tests) for d in report["defis"])
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>kubedefis conformance report{_title_group(report)}</title><style>{_CSS}</style></head><body>"
        f"{_header(report)}{_summary(report)}<h2>Requirements</h2>{sections}"
        '<p class="muted">kubedefis: a requirement is failed if any of its tests failed, passed if all passed,'
        " skipped otherwise.</p></body></html>\n"
    )
