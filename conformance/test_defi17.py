"""Défi 17 — Exploiter les connexions moins dangereuses : the course's reference site falls to one attacker.

The naive profile reproduces the reference: Django's development server with DEBUG on, every list
unpaginated (5000 cars), request bodies read whole into memory, no per-client limit, under the
course's 200Mi memory limit. One pod of the cluster runs loadtests/attack.py (unbounded lists,
oversized bodies, slow clients, a flood) while Locust users browse and use the API through the
Ingress. The test passes when the site fails them: requests failed (5xx, timeouts, refused
connections), a p95 over 1 s, or pods OOM-killed, restarted or replaced; it records which. The pods
watched are the target's components (api, public, database), found by its selectors.
"""

from __future__ import annotations

import pytest

from kubedefis.core import manifests, timeouts
from kubedefis.harness import access, checks, discover, load
from kubedefis.harness import site as site_mod
from kubedefis.harness import stage as stack

PRESET = "naive"
OVERRIDES = {"migration": {"sampleSize": "large"}}
# The attack of défis 17 and 18, the same on both: 4 threads of unbounded lists, 2 of 150 MB
# bodies, 24 slow clients (a byte every 2 s), 8 threads flooding.
ATTACK_ARGS = ("--lists", "4", "--bodies", "2", "--body-mb", "150", "--slow", "24", "--flood", "8")
MAX_FAILED_RATIO = 0.01
MAX_P95_MS = 1000
WATCHED = ("api", "public", "database")
SAMPLE_ROWS = 5000  # the cars of the large sample data (OVERRIDES)


# Défi 17 attacks the course's reference site ("le site de la correction"), which our naive profile
# reproduces. A group's deployed stack is its one production stack, graded on défi 18 (the same attack
# survived) and défi 19 (DEBUG off): asking that stack to be naive would fail every group that did them.
NOT_THE_REFERENCE = (
    "défi 17 attacks the course's reference site (our chart's naive profile); a group's deployed stack is"
    " graded on défi 18 (the same attack survived), never on being vulnerable"
)


@pytest.fixture(scope="module")
def reference(suite):
    """Before the stack's fixtures: on a group's deployed stack, skipped with why (not the reference site)."""
    if suite.target.deployed:
        pytest.skip(NOT_THE_REFERENCE)


def stack_selectors(cluster, namespace, suite) -> list[str]:
    """The pod selectors of the stack's components, as the target finds them (workload selector)."""
    return [stack.resolve(cluster, namespace, suite.target.component(key)).selector for key in WATCHED]


@pytest.mark.static
@pytest.mark.requirement("D17.1", "the naive profile is the reference's: development server, DEBUG, no limits")
def test_rendered_naive_profile(reference, suite, rendered):
    deployments, findings = discover.site_deployments(rendered, suite.target)
    for dep, container in deployments:
        if container is None:
            continue
        where = f"{manifests.name_of(dep)} container {container.get('name')}"
        run = discover.command_words(container)
        if "runserver" not in run:
            findings.append(checks.Finding(where, "manage.py runserver", str(run)))
        env = discover.env_of(rendered, container)
        debug = {n: v.value for n, v in env.items() if n.upper().endswith("DEBUG")}
        if not any(discover.truthy(v) for v in debug.values()):
            findings.append(checks.Finding(where, "Django's DEBUG on", str(debug or "unset")))
        naive = {n: v.value for n, v in env.items() if n.upper().endswith("NAIVE")}
        if not any(discover.truthy(v) for v in naive.values()):
            findings.append(checks.Finding(where, "the defences off (naive)", str(naive or "unset")))
    checks.require("D17.1 naive profile", findings)


@pytest.mark.requirement("D17.2", "the naive site lists everything at once and leaks its internals (DEBUG)")
def test_naive_site_has_the_weaknesses(reference, suite, values, site):
    path = suite.target.site.api_list  # the site contract's API list (the target's, else ours)
    answer = access.wait_http(f"the API list {path}", lambda: site.get(path), timeout=timeouts.HTTP_READY)
    data = site_mod.json_of(answer)
    items = site_mod.items_of(data)
    if items is None:
        pytest.fail(f"expected {path} (api_list) to answer a JSON list of objects, found {site_mod.shape_of(answer)}")
    total = data.get("count", len(items)) if isinstance(data, dict) else len(items)
    assert len(items) >= SAMPLE_ROWS and len(items) == total, (
        f"expected all of at least {SAMPLE_ROWS} objects at once from {path}, found {len(items)} of {total}: paginated"
    )
    debug = site.get("/no-such-page/")
    assert debug.status == 404 and "URLconf" in debug.text, "no DEBUG technical page"


@pytest.mark.disruptive
@pytest.mark.needs("create", "configmaps")
@pytest.mark.needs("delete", "configmaps")
@pytest.mark.needs("create", "pods")
@pytest.mark.needs("delete", "pods")
@pytest.mark.needs("get", "pods/log")
@pytest.mark.alone  # a p95 is measured: the other lanes wait meanwhile
@pytest.mark.requirement("D17.3", "one attacker makes the naive site fail its legitimate users")
def test_attack_brings_the_naive_site_down(reference, suite, cluster, namespace, values, site, record_property):
    outcome = load.attack_under_load(
        cluster,
        namespace,
        site,
        image=stack.site_image(cluster, namespace, suite.target),
        selectors=stack_selectors(cluster, namespace, suite),
        attack_args=ATTACK_ARGS,
        attack_seconds=timeouts.ATTACK,
        site_contract=suite.target.site,
        until_fallen=True,  # a pod restarted or gone proves the fall: the attack stops there
    )
    for key, value in outcome.as_dict().items():
        record_property(key, value)
    unproven = outcome.unproven(answers=False)
    assert not unproven, f"the attack did not run against the site, its fall is not its doing: {unproven}"
    failed = outcome.legit.total.failure_ratio > MAX_FAILED_RATIO
    slow = outcome.legit.total.p95 >= MAX_P95_MS
    assert failed or slow or outcome.oom_killed or outcome.restarts or outcome.replaced, (
        f"the naive site survived the attack:\n{outcome.legit.report()}\nattack: {outcome.attack}"
    )
