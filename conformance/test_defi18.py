"""Défi 18 — Sécuriser les connexions moins dangereuses : the attack of défi 17 leaves legitimate users served.

The same attack (loadtests/attack.py from a pod: unbounded lists, 150 MB bodies, slow clients, a
flood) against the chart's default profile, with the same 5000 cars and the same legitimate users.
Requirements: under 1 % of legitimate requests failed, their p95 under 1 s, no pod OOM-killed or
restarted. The defences are the site's and the chart's own:
- pagination capped at 100 items (422 beyond), request bodies over 64 KiB refused (413) before
  they are read;
- per client, per process: a token bucket (20 requests/s, bursts of 40; 429), at most 2 requests
  in flight (429: slow clients cannot hold every thread), a body must arrive within 10 s (408),
  each socket read bounded by gunicorn's pre_request hook;
- gunicorn (2 processes x 2 threads, worker timeout 30 s) instead of the development server;
  memory and CPU limits per pod; a PodDisruptionBudget.
"""

from __future__ import annotations

import pytest

from kubedefis.harness import checks, helm, load, stack, timeouts
from kubedefis.release import install_ready_stack as install

PRESET = ""  # the chart's defaults (+ local.yaml)
OVERRIDES = {"migration": {"sampleSize": "large"}}
ATTACK_ARGS = ("--lists", "4", "--bodies", "2", "--body-mb", "150", "--slow", "24", "--flood", "8")
MAX_FAILED_RATIO = 0.01
MAX_P95_MS = 1000


@pytest.fixture(scope="module")
def rendered(suite):
    from kubedefis.pytest_plugin import find_tool

    chart = suite.chart_under_test()
    values = helm.merge_values(helm.load_values(stack.chart_values(suite, PRESET)), OVERRIDES)
    return helm.Helm(find_tool("helm")).template(chart, suite.target.release, values)


@pytest.fixture(scope="module")
def values(suite, cluster, namespace):
    return install(cluster, suite, namespace, PRESET, OVERRIDES)


@pytest.fixture(scope="module")
def site(suite, cluster, values):
    host = suite.target.ingress_host or values.get("ingress", {}).get("host") or "django.kubedefis.localhost"
    return cluster.ingress(host)


@pytest.mark.static
@pytest.mark.requirement("D18.1", "defences in the chart: limits, PDB, no DEBUG, gunicorn, per-client limits on")
def test_rendered_defences(rendered):
    config = next(o for o in rendered if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-config"))
    data = config["data"]
    findings = []
    expected = {"DJANGO_DEBUG": "false", "DJANGO_NAIVE": "false"}
    for key, value in expected.items():
        if data.get(key) != value:
            findings.append(checks.Finding(checks.name_of(config), f"{key}={value}", str(data.get(key))))
    for key in ("DJANGO_RATELIMIT_RATE", "DJANGO_CLIENT_MAX_CONCURRENCY", "DJANGO_BODY_TIMEOUT"):
        if int(data.get(key, "0")) <= 0:
            findings.append(checks.Finding(checks.name_of(config), f"{key} > 0", str(data.get(key))))
    django = [o for o in rendered if o["kind"] == "Deployment" and o["metadata"]["name"].endswith(("-api", "-public"))]
    for dep in django:
        container = checks.containers(dep)[0]
        if "runserver" in container.get("command", []):
            findings.append(checks.Finding(checks.name_of(dep), "gunicorn", "the development server"))
        limits = (container.get("resources") or {}).get("limits") or {}
        if not limits.get("memory") or not limits.get("cpu"):
            findings.append(checks.Finding(checks.name_of(dep), "CPU and memory limits", str(limits)))
    pdbs = {o["metadata"]["name"] for o in rendered if o["kind"] == "PodDisruptionBudget"}
    if not {d["metadata"]["name"] for d in django} <= pdbs:
        findings.append(checks.Finding("PodDisruptionBudgets", "one per Deployment (api, public)", str(sorted(pdbs))))
    checks.require("D18.1 defences", findings)


@pytest.mark.requirement("D18.2", "each defence answers: page size capped (422), body limit (413)")
def test_limits_answer(site, values):
    from kubedefis.harness import access

    big_page = access.wait_http(
        "the API",
        lambda: site.get("/api/cars?page_size=1000000"),
        expect=lambda r: r.status != 503,
        timeout=timeouts.HTTP_READY,
    )
    assert big_page.status == 422, big_page
    assert site.get("/api/cars?page_size=100").json()["page_size"] == 100
    body = '{"make": "' + "A" * 200_000 + '"}'
    too_big = site.request("POST", "/api/cars", body=body, headers={"Content-Type": "application/json"})
    assert too_big.status == 413, too_big
    assert "URLconf" not in site.get("/no-such-page/").text, "a DEBUG technical page"


@pytest.mark.disruptive
@pytest.mark.needs("create", "configmaps")
@pytest.mark.needs("delete", "configmaps")
@pytest.mark.needs("create", "pods")
@pytest.mark.needs("delete", "pods")
@pytest.mark.needs("get", "pods/log")
@pytest.mark.requirement("D18.3", "under the attack: < 1 % legitimate requests failed, p95 < 1 s, no pod killed")
def test_legitimate_users_served_under_attack(suite, cluster, namespace, values, site, record_property):
    if not suite.allow_disruption:
        pytest.skip("attacks the site: needs --allow-disruption")
    api = stack.resolve(cluster, namespace, suite.target.component("api"))
    image = stack.running_pods(cluster, namespace, api.selector)[0].spec.containers[0].image
    outcome = load.attack_under_load(
        cluster,
        namespace,
        site,
        image=image,
        selector="app.kubernetes.io/component in (api,public,database)",
        attack_args=ATTACK_ARGS,
        attack_seconds=timeouts.ATTACK,
    )
    for key, value in outcome.as_dict().items():
        record_property(key, value)
    report = f"{outcome.legit.report()}\nattack: {outcome.attack}\npods: {outcome.restarts}"
    assert not outcome.oom_killed and not outcome.restarts, f"pods killed or restarted:\n{report}"
    assert outcome.legit.total.requests > 0, report
    assert outcome.legit.total.failure_ratio < MAX_FAILED_RATIO, f"legitimate requests failed:\n{report}"
    assert outcome.legit.total.p95 < MAX_P95_MS, f"legitimate p95 too slow:\n{report}"
    seen = {answer for attack in outcome.attack["attacks"].values() for answer in attack["outcomes"]}
    assert {"422", "413", "429"} <= seen, f"the defences did not all answer the attacker: {outcome.attack}"
