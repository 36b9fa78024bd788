"""Défis 17-18 on a group's stack: the site's container is judged and runs the attacker, not a sidecar put
first; and an attack that never reached the site proves nothing (D18.3 fails, D17.3 too)."""

from __future__ import annotations

from types import SimpleNamespace

import conformance_modules
import pytest
from kubernetes import client

from kubedefis.harness import checks, discover, load, stage
from kubedefis.harness.target import Target


def _module(name: str):
    return conformance_modules.load(name, "grading")


defi17 = _module("test_defi17")
defi18 = _module("test_defi18")
LABELS = {"app": "garagiste", "tier": "backend"}


def container(name: str, image: str, *ports: tuple[int, str]) -> dict:
    return {"name": name, "image": image, "ports": [{"containerPort": n, "name": p} for n, p in ports]}


def deployment(*containers: dict) -> dict:
    return {
        "kind": "Deployment",
        "metadata": {"name": "garagiste-backend"},
        "spec": {"template": {"metadata": {"labels": LABELS}, "spec": {"containers": list(containers)}}},
    }


def service(target_port: int | str) -> dict:
    return {
        "kind": "Service",
        "metadata": {"name": "backend"},
        "spec": {"selector": LABELS, "ports": [{"port": 8000, "targetPort": target_port}]},
    }


SIDECAR = container("journaux", "fluent/fluent-bit:3.0", (2020, "metrics"))
SITE = container("django", "garagiste/site:1", (8080, "http"))


def test_the_site_container_is_the_one_on_the_site_port_then_the_services_then_the_only_one():
    found, findings = discover.site_container([], deployment(SIDECAR, SITE), 8080)
    assert (found, findings) == (SITE, [])
    # the target's site_port declared by none: the Service's targetPort names it (by name or number)
    for target in ("http", 8080):
        found, findings = discover.site_container([service(target)], deployment(SIDECAR, SITE), 9999)
        assert (found, findings) == (SITE, [])
    found, findings = discover.site_container([], deployment(SITE), 9999)  # the only one
    assert (found, findings) == (SITE, [])


def test_a_site_container_that_cannot_be_told_is_a_finding_never_the_first():
    bare = [{"name": "journaux", "image": "fluent/fluent-bit:3.0"}, {"name": "django", "image": "site:1"}]
    found, findings = discover.site_container([service("http")], deployment(*bare), 8080)
    assert found is None and len(findings) == 1
    assert "journaux" in findings[0].found and "django" in findings[0].found, findings
    assert "8080" in findings[0].expected and "site_port" in findings[0].expected, findings
    found, findings = discover.site_container([], deployment(), 8080)  # no container: no IndexError
    assert found is None and findings[0].found == "no container"


def test_the_site_container_the_target_names_wins_over_the_ports():
    """An nginx in front declares the port, gunicorn beside it none: the target names the site's."""
    nginx = container("nginx", "nginx:1.27", (8080, "http"))
    gunicorn = {"name": "django", "image": "garagiste/site:1"}
    found, findings = discover.site_container([service("http")], deployment(nginx, gunicorn), 8080)
    assert (found, findings) == (nginx, [])  # without the target's word, the port decides
    found, findings = discover.site_container([service("http")], deployment(nginx, gunicorn), 8080, "django")
    assert (found, findings) == (gunicorn, [])
    found, findings = discover.site_container([], deployment(nginx, gunicorn), 8080, "gunicorn")
    assert found is None and "a container named gunicorn" in findings[0].expected
    assert "nginx" in findings[0].found and "django" in findings[0].found, findings


def _live_cluster(monkeypatch, module):
    """A running api pod whose first container is a sidecar, as the API gives it (a client model)."""
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="garagiste-backend-abc", labels=LABELS),
        spec=client.V1PodSpec(
            containers=[
                client.V1Container(name="journaux", image="fluent/fluent-bit:3.0"),
                client.V1Container(
                    name="django",
                    image="garagiste/site:1",
                    ports=[client.V1ContainerPort(container_port=8080, name="http")],
                ),
            ]
        ),
    )
    resolved = SimpleNamespace(kind="Deployment", name="garagiste-backend", selector="app=garagiste,tier=backend")
    monkeypatch.setattr(stage, "resolve", lambda cluster, namespace, component: resolved)
    monkeypatch.setattr(stage, "a_running_pod", lambda cluster, namespace, found: pod)
    monkeypatch.setattr(discover, "live_objects", lambda k, namespace, *kinds: [service("http")])
    return SimpleNamespace(kube=None)


SUITE = SimpleNamespace(target=Target(deployed=True, site_port=8080))


def test_the_attacker_of_d17_3_runs_on_the_site_containers_image_not_a_sidecars(monkeypatch):
    cluster = _live_cluster(monkeypatch, defi17)
    assert stage.site_image(cluster, "u-garagiste", SUITE.target) == "garagiste/site:1"


def _outcome(attacks: dict) -> load.AttackOutcome:
    """Legitimate users all served fast (1000 requests, none failed, p95 80 ms); the attacker's report as given."""
    total = load.RequestStats("", "Aggregated", 1000, 0, {"95%": 80.0}, 10.0)
    legit = load.LoadResult(total=total, requests=[total], failures=[], seconds=90.0)
    return load.AttackOutcome(legit, {"seconds": 90.0, "target": "http://x", "attacks": attacks}, {}, [])


NEVER_REACHED = {  # the Ingress host resolved to the attacker's own loopback: every request refused
    "lists": {"threads": 4, "outcomes": {"refused": 1800}},
    "bodies": {"threads": 2, "outcomes": {"refused": 900}},
    "slow": {"threads": 24, "outcomes": {"refused": 10800}},
    "flood": {"threads": 8, "outcomes": {"refused": 3600}},
}
NOTHING_SENT = {name: {"threads": a["threads"], "outcomes": {}} for name, a in NEVER_REACHED.items()}
REACHED = {
    "lists": {"threads": 4, "outcomes": {"200": 300}},
    "bodies": {"threads": 2, "outcomes": {"413": 200, "reset": 3}},
    "slow": {"threads": 24, "outcomes": {"408": 240}},
    "flood": {"threads": 8, "outcomes": {"200": 1500, "429": 9000}},
}


def _run_d18_3(monkeypatch, attacks: dict, suite=SUITE, services=None) -> dict:
    """D18.3 on a group's site whose api pod has a sidecar first; what it gave attack_under_load."""
    cluster = _live_cluster(monkeypatch, defi18)
    if services is not None:
        monkeypatch.setattr(discover, "live_objects", lambda k, namespace, *kinds: services)
    given: dict = {}

    def attack_under_load(*args, **kwargs):
        given.update(kwargs)
        return _outcome(attacks)

    monkeypatch.setattr(defi18.load, "attack_under_load", attack_under_load)
    site = SimpleNamespace(host="django.garagiste.localhost")
    record = lambda key, value: None  # noqa: E731
    defi18.test_legitimate_users_served_under_attack(suite, cluster, "u-garagiste", {}, site, record)
    return given


@pytest.mark.parametrize("attacks", [NEVER_REACHED, NOTHING_SENT, {}], ids=["never-reached", "nothing-sent", "none"])
def test_d18_3_fails_when_the_attack_never_reached_a_group_site(monkeypatch, attacks):
    with pytest.raises(AssertionError, match="the attack did not run against the site"):
        _run_d18_3(monkeypatch, attacks)


def test_d18_3_passes_a_group_site_that_survived_an_attack_it_answered(monkeypatch):
    _run_d18_3(monkeypatch, REACHED)


def test_the_attacker_of_d18_3_runs_on_the_site_containers_image_not_a_sidecars(monkeypatch):
    assert _run_d18_3(monkeypatch, REACHED)["image"] == "garagiste/site:1"


@pytest.mark.parametrize("attacks", [NOTHING_SENT, {}], ids=["nothing-sent", "none"])
def test_d17_3_fails_when_the_attacker_sent_nothing(monkeypatch, attacks):
    """A site that falls may leave its attacker with errors only (D17.3 asks no answer); nothing sent is no attack."""
    cluster = _live_cluster(monkeypatch, defi17)
    failing = _outcome(attacks)
    failing.oom_killed = ["garagiste-backend-abc/django"]  # the site fell, but not to this attacker
    monkeypatch.setattr(defi17.load, "attack_under_load", lambda *args, **kwargs: failing)
    monkeypatch.setattr(defi17, "stack_selectors", lambda cluster, namespace, suite: ["app=garagiste"])
    with pytest.raises(AssertionError, match="the attack did not run against the site"):
        defi17.test_attack_brings_the_naive_site_down(
            None, SUITE, cluster, "u-garagiste", {}, SimpleNamespace(host="h"), lambda key, value: None
        )


def test_an_api_pod_whose_site_container_cannot_be_told_fails_d18_3_with_its_containers(monkeypatch):
    # neither container declares the target's site_port, no Service names one: never the first by default
    unknown_port = SimpleNamespace(target=Target(deployed=True, site_port=9999))
    with pytest.raises(checks.RequirementFailed, match=r"journaux.*django"):
        _run_d18_3(monkeypatch, REACHED, suite=unknown_port, services=[])


def test_the_development_server_is_seen_inside_a_shell_script():
    """D18.1 on a group that starts its site through `sh -c`: the development server is still seen."""
    script = {"command": ["sh", "-c"], "args": ["python manage.py migrate && exec python manage.py runserver 0:8080"]}
    assert "runserver" in discover.command_words(script)
    assert "runserver" in discover.command_words({"command": ["python", "manage.py", "runserver", "0.0.0.0:8000"]})
    gunicorn = {"command": ["sh", "-c", "exec gunicorn -c conf.py garage.wsgi  # no runserver_plus"]}
    assert "runserver" not in discover.command_words(gunicorn)
