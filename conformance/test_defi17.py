"""Défi 17 — Exploiter les connexions moins dangereuses : the course's reference site falls to one attacker.

The naive profile reproduces the reference: Django's development server with DEBUG on, every list
unpaginated (5000 cars), request bodies read whole into memory, no per-client limit, under the
course's 200Mi memory limit. One pod of the cluster runs loadtests/attack.py (unbounded lists,
oversized bodies, slow clients, a flood) while Locust users browse and use the API through the
Ingress. The test passes when the site fails them: requests failed (5xx, timeouts, refused
connections), a p95 over 1 s, or pods OOM-killed or restarted; it records which.
"""

from __future__ import annotations

import pytest

from kubedefis.harness import access, checks, helm, load, stack, timeouts
from kubedefis.release import install_ready_stack as install

PRESET = "naive"
OVERRIDES = {"migration": {"sampleSize": "large"}}
# The attack of défis 17 and 18, the same on both: 4 threads of unbounded lists, 2 of 150 MB
# bodies, 24 slow clients (a byte every 2 s), 8 threads flooding.
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


def site_image(cluster, namespace, suite) -> str:
    api = stack.resolve(cluster, namespace, suite.target.component("api"))
    return stack.running_pods(cluster, namespace, api.selector)[0].spec.containers[0].image


def site_selector(suite) -> str:
    return "app.kubernetes.io/component in (api,public,database)"


@pytest.mark.static
@pytest.mark.requirement("D17.1", "the naive profile is the reference's: development server, DEBUG, no limits")
def test_rendered_naive_profile(rendered):
    config = next(o for o in rendered if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-config"))
    findings = []
    for key, expected in (("DJANGO_DEBUG", "true"), ("DJANGO_NAIVE", "true")):
        if config["data"].get(key) != expected:
            findings.append(checks.Finding(checks.name_of(config), f"{key}={expected}", str(config["data"].get(key))))
    for dep in (
        o for o in rendered if o["kind"] == "Deployment" and o["metadata"]["name"].endswith(("-api", "-public"))
    ):
        command = checks.containers(dep)[0].get("command", [])
        if "runserver" not in command:
            findings.append(checks.Finding(checks.name_of(dep), "manage.py runserver", str(command)))
    checks.require("D17.1 naive profile", findings)


@pytest.mark.requirement("D17.2", "the naive site lists everything at once and leaks its internals (DEBUG)")
def test_naive_site_has_the_weaknesses(site, values):
    cars = access.wait_http("the API list", lambda: site.get("/api/cars"), timeout=timeouts.HTTP_READY).json()
    assert cars["count"] >= 5000 and len(cars["results"]) == cars["count"], "the list is paginated"
    debug = site.get("/no-such-page/")
    assert debug.status == 404 and "URLconf" in debug.text, "no DEBUG technical page"


@pytest.mark.disruptive
@pytest.mark.needs("create", "configmaps")
@pytest.mark.needs("delete", "configmaps")
@pytest.mark.needs("create", "pods")
@pytest.mark.needs("delete", "pods")
@pytest.mark.needs("get", "pods/log")
@pytest.mark.requirement("D17.3", "one attacker makes the naive site fail its legitimate users")
def test_attack_brings_the_naive_site_down(suite, cluster, namespace, values, site, record_property):
    if not suite.allow_disruption:
        pytest.skip("attacks the site: needs --allow-disruption")
    outcome = load.attack_under_load(
        cluster,
        namespace,
        site,
        image=site_image(cluster, namespace, suite),
        selector=site_selector(suite),
        attack_args=ATTACK_ARGS,
        attack_seconds=timeouts.ATTACK,
    )
    for key, value in outcome.as_dict().items():
        record_property(key, value)
    failed = outcome.legit.total.failure_ratio > MAX_FAILED_RATIO
    slow = outcome.legit.total.p95 >= MAX_P95_MS
    assert failed or slow or outcome.oom_killed or outcome.restarts, (
        f"the naive site survived the attack:\n{outcome.legit.report()}\nattack: {outcome.attack}"
    )
