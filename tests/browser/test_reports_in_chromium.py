"""The class report and a group's report, opened in headless Chromium (Debian's chromium + chromium-driver,
driven by Selenium): the matrix renders with its colours, a failed requirement's expected/found values and
evidence are one click away, and the pages load nothing from the network.

Screenshots are kept as test artefacts in $KUBEDEFIS_BROWSER_ARTEFACTS (default .tox/reports/browser/).
Needs `apt-get install chromium chromium-driver` and `pip install selenium`; skipped, with that reason,
only when one of them is missing.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubedefis.report import classreport, html, model
from kubedefis.report.model import FindingRecord, TestRecord

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
MISSING = [
    what
    for what, found in (
        ("chromium (apt-get install chromium)", CHROMIUM),
        ("chromedriver (apt-get install chromium-driver)", CHROMEDRIVER),
        ("selenium (pip install selenium)", importlib.util.find_spec("selenium")),
    )
    if not found
]
pytestmark = pytest.mark.skipif(
    bool(MISSING), reason=f"no browser to test the reports in: missing {', '.join(MISSING)}"
)

# Computed background colours of the class page's cells (classreport's CSS).
GREEN, AMBER, RED, GREY = (
    "rgba(46, 125, 50, 1)",
    "rgba(249, 168, 37, 1)",
    "rgba(198, 40, 40, 1)",
    "rgba(183, 188, 196, 1)",
)

EVIDENCE = """pods in u-42:
  NAME                   READY  STATUS            RESTARTS
  api-6f7c9d8b5d-2xk4q   0/1    CrashLoopBackOff  4
  api-6f7c9d8b5d-9wz7c   1/1    Running           0
events in u-42:
  Warning  BackOff  pod/api-6f7c9d8b5d-2xk4q  Back-off restarting failed container api
logs of pod/api-6f7c9d8b5d-2xk4q (last 3 lines):
  django.db.utils.OperationalError: connection to server at "postgres" failed: Connection refused"""


def _record(defi: int, n: int, outcome: str = model.PASSED, **extra: Any) -> TestRecord:
    record = TestRecord(
        nodeid=f"conformance/test_defi{defi}.py::test_requirement_{n}",
        module=f"conformance/test_defi{defi}.py",
        defi=defi,
        requirement=f"D{defi}.{n}",
        requirement_text=f"défi {defi}, requirement {n}",
        outcome=outcome,
        skip_reason="",
        duration=0.4 + n / 10,
    )
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def group_report(
    group: str, *, failing: dict[str, str], skipped: tuple[str, ...] = (), defis: int = 5
) -> dict[str, Any]:
    """A realistic report.json: défis 1..defis, 4 requirements each; `failing` maps requirement → found."""
    records = []
    for defi in range(1, defis + 1):
        for n in range(1, 5):
            rid = f"D{defi}.{n}"
            if rid in failing:
                records.append(
                    _record(
                        defi,
                        n,
                        model.FAILED,
                        message=f"{rid}: the api Deployment is not ready",
                        findings=[FindingRecord(f"Deployment/api in {group}", "3 ready replicas", failing[rid])],
                        evidence=EVIDENCE.replace("u-42", group),
                        traceback="conformance/test_defi.py:42: RequirementFailed",
                    )
                )
            elif rid in skipped:
                records.append(_record(defi, n, model.SKIPPED, skip_reason="the credentials cannot create pods/exec"))
            else:
                records.append(_record(defi, n))
    header = {
        "date": "2026-11-26T10:00:00+00:00",
        "finished": "2026-11-26T10:04:03+00:00",
        "target": {
            "target_file": f"targets/{group}.yaml",
            "api_server": "https://course:6443",
            "namespace": group,
            "group": group,
            "commit": "3f2a9c1",
        },
        "versions": {"kubedefis": "0.1.0", "kubernetes": "v1.34.4", "python": "3.11", "pytest": "9"},
        "permissions": {"denied": ["create pods/exec"] if skipped else [], "checked": 30},
        "interrupted": "",
        "collection_errors": [],
    }
    return model.build(records, header)


def write_class(out: Path, groups: dict[str, dict[str, Any] | None], reasons: dict[str, str]) -> Path:
    """Each group's report.html/json under out/<group>/, then the class report; the class page's path."""
    rows = []
    for n, (name, report) in enumerate(groups.items()):
        if report is None:
            rows.append(classreport.group_row(name, status=classreport.ERROR, reason=reasons[name], seconds=3.2))
            continue
        folder = out / classreport.folder_name(name)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "report.html").write_text(html.render(report), encoding="utf-8")
        rows.append(
            classreport.group_row(
                name,
                status=classreport.GRADED,
                seconds=200.0 + 17 * n,
                report=report,
                report_href=f"{folder.name}/report.html",
                namespace=name,
                commit=f"3f2a9c{n}",
            )
        )
    data = classreport.build(rows, wall_seconds=1234, concurrency=2)
    return classreport.write(out, data)["html"]


@pytest.fixture(scope="module")
def small_class(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("class")
    groups: dict[str, dict[str, Any] | None] = {
        "u-101": group_report("u-101", failing={}),  # every requirement passed
        "u-102": group_report("u-102", failing={"D2.3": "1 ready replica", "D4.1": "0"}),
        "u-103": group_report("u-103", failing={f"D3.{n}": "0" for n in range(1, 5)}),  # nothing of défi 3
        "u-104": group_report("u-104", failing={}, skipped=("D5.2", "D5.4")),  # rights denied: skipped
        "u-105": None,
    }
    return write_class(out, groups, {"u-105": "kubedefis: no cluster to test: Unauthorized (the token has expired)"})


@pytest.fixture(scope="module")
def artefacts() -> Path:
    folder = Path(os.environ.get("KUBEDEFIS_BROWSER_ARTEFACTS") or REPO / ".tox" / "reports" / "browser")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # no name resolves: the pages must need no network
    ):
        options.add_argument(flag)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not try to download a driver
        driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: Any, artefacts: Path, tmp_path: Path, name: str, *, full_page: bool = True) -> Path:
    """The page as PNG, in the test's tmp folder and the artefacts folder."""
    if full_page:
        width, height = driver.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
        )
        driver.set_window_size(max(1400, min(int(width) + 40, 4000)), min(int(height) + 160, 12000))
    shot = tmp_path / f"{name}.png"
    assert driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 5000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shutil.copy(shot, artefacts / shot.name)
    driver.set_window_size(1400, 1000)
    return shot


def _open(driver: Any, page: Path) -> None:
    driver.get(page.as_uri())
    assert driver.execute_script("return document.readyState") == "complete"


def _css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def _row(driver: Any, group: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.XPATH, f"//th[@id='group-{group}']/parent::tr")


def test_the_class_matrix_renders_with_its_colours(
    browser: Any, small_class: Path, artefacts: Path, tmp_path: Path
) -> None:
    _open(browser, small_class)
    assert browser.title == "kubedefis class report"
    headers = [th.text for th in _css(browser, "table.class thead th")]
    assert headers == ["Group", "Status", "Time", "D1", "D2", "D3", "D4", "D5", "Total", "First failure"]
    cells = _css(browser, "td.cell")
    assert len(cells) == 4 * 5 and all(c.is_displayed() for c in cells)

    def colours(group: str) -> list[tuple[str, str]]:
        row = _row(browser, group)
        return [
            (c.text, c.value_of_css_property("background-color")) for c in row.find_elements("css selector", "td.cell")
        ]

    assert colours("u-101") == [("4/4", GREEN)] * 5
    assert colours("u-102") == [("4/4", GREEN), ("3/4", AMBER), ("4/4", GREEN), ("3/4", AMBER), ("4/4", GREEN)]
    assert colours("u-103")[2] == ("0/4", RED)
    assert colours("u-104")[4] == ("2/4", GREY)
    assert _row(browser, "u-102").find_element("css selector", "td.total").text == "18/20"

    broken = _row(browser, "u-105")
    reason = broken.find_element("css selector", "td.reason")
    assert reason.is_displayed() and "the token has expired" in reason.text
    assert broken.find_element("css selector", ".badge").text == "error"
    assert "commit 3f2a9c1" in _row(browser, "u-102").text
    screenshot(browser, artefacts, tmp_path, "class-report")


def test_a_failure_is_one_click_away_on_the_class_page(
    browser: Any, small_class: Path, artefacts: Path, tmp_path: Path
) -> None:
    _open(browser, small_class)
    details = _row(browser, "u-102").find_element("css selector", "details.first-failure")
    findings = details.find_element("css selector", "table.findings")
    evidence = details.find_element("css selector", "pre.evidence")
    assert not findings.is_displayed() and not evidence.is_displayed()

    details.find_element("css selector", "summary").click()  # the one click

    assert findings.is_displayed() and evidence.is_displayed()
    assert "D2.3" in details.find_element("css selector", "summary").text
    assert [td.text for td in findings.find_elements("css selector", "td")] == [
        "3 ready replicas",
        "1 ready replica",
        "Deployment/api in u-102",
    ]
    assert "CrashLoopBackOff" in evidence.text and "pods in u-102" in evidence.text
    screenshot(browser, artefacts, tmp_path, "class-report-first-failure")

    # and from there to the whole of it in the group's report: the requirement's row when the report
    # has requirement anchors (html.requirement_anchor), else its défi's section
    details.find_element("link text", "in u-102's report").click()
    fragment = classreport.requirement_anchor(2, "D2.3")
    assert browser.current_url.endswith(f"/u-102/report.html#{fragment}")
    target = browser.find_element("id", fragment)
    assert -2 <= browser.execute_script("return arguments[0].getBoundingClientRect().top", target) < 200
    if hasattr(html, "requirement_anchor"):  # the group report's header names the group and what was graded
        assert browser.find_element("tag name", "h1").text == "Conformance report: u-102"
        assert "commit 3f2a9c1" in browser.find_element("css selector", "table.meta").text


def test_a_cell_opens_its_defi_in_the_group_report_with_expected_found_and_evidence(
    browser: Any, small_class: Path, artefacts: Path, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    _open(browser, small_class)
    cell = _row(browser, "u-102").find_elements("css selector", "td.cell")[1]
    assert cell.text == "3/4"
    cell.find_element("css selector", "a").click()  # the one click from the class page

    assert browser.current_url.endswith("/u-102/report.html#defi-2")
    section = browser.find_element(By.ID, "defi-2")
    top = browser.execute_script("return arguments[0].getBoundingClientRect().top", section)
    assert -2 <= top < 200, f"the défi's section is not at the top of the window ({top} px)"
    table = section.find_element(By.XPATH, "following-sibling::table[1]")
    findings = table.find_element("css selector", "table.findings")
    assert findings.is_displayed()  # expected / found: shown at once
    assert "3 ready replicas" in findings.text and "1 ready replica" in findings.text
    evidence = table.find_element(By.XPATH, ".//details[summary[.='Kubernetes evidence']]")
    text = evidence.find_element("css selector", "pre")
    assert not text.is_displayed()
    evidence.find_element("css selector", "summary").click()  # and the evidence, one click further
    assert text.is_displayed() and "CrashLoopBackOff" in text.text
    screenshot(browser, artefacts, tmp_path, "group-report", full_page=False)


@pytest.mark.parametrize("page", ["class.html", "u-102/report.html"])
def test_the_pages_load_nothing_from_the_network(browser: Any, small_class: Path, page: str) -> None:
    _open(browser, small_class.parent / page)
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources == []
    external = browser.execute_script(
        """return [...document.querySelectorAll('[src], link[href], [style*="url("]')]
               .map(e => e.outerHTML.slice(0, 120))"""
    )
    assert external == []
    assert browser.execute_script("return document.scripts.length") == 0  # renders with no script at all
    sheets = browser.execute_script("return [...document.styleSheets].map(s => s.href)")
    assert sheets == [None]  # one inline stylesheet
    links = browser.execute_script("return [...document.links].map(a => a.getAttribute('href'))")
    assert not [link for link in links if link.startswith(("http:", "https:", "//"))]


def test_a_class_of_30_groups_and_120_requirements_renders_fast(browser: Any, tmp_path: Path, artefacts: Path) -> None:
    groups: dict[str, dict[str, Any] | None] = {}
    for n in range(29):
        failing = {f"D{d}.{r}": "0" for d in range(1, 31) for r in range(1, 5) if (n + d * 3 + r) % 9 == 0}
        groups[f"u-{n:03d}"] = group_report(f"u-{n:03d}", failing=failing, defis=30)  # 30 × 4 = 120 requirements
    groups["u-999"] = None
    page = write_class(tmp_path / "class", groups, {"u-999": "no result after 30 min 00 s: stopped"})
    assert page.stat().st_size < 600_000

    started = time.monotonic()
    _open(browser, page)
    wall = time.monotonic() - started
    timing = browser.execute_script(
        "const t = performance.getEntriesByType('navigation')[0]; return [t.domContentLoadedEventEnd, t.loadEventEnd]"
    )
    assert browser.execute_script("return document.querySelectorAll('td.cell').length") == 29 * 30
    assert timing[1] < 3000 and wall < 10, f"the class page took {timing} ms to load ({wall:.1f} s with WebDriver)"
    screenshot(browser, artefacts, tmp_path, "class-report-30-groups")
