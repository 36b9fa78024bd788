"""Défis 3–7, 10, 11: each conformance module fails on a stack that breaks its requirement, and only there.

The requirements seen in manifests have static variants too (test_static_variants_1_11.py, no
cluster); the live variants below that break such a requirement run the module's live tier only
(`-m "not static"`), so that each proves its live check alone. Those that declare what they break
(`breaks`) must fail exactly those requirement ids (tests/harness/requirements.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from requirements import caught, declared, failed_requirements, run
from variants import broken_chart, broken_handin, broken_values, failed, of_kind, outcomes

from kubedefis.core import timeouts
from kubedefis.core.helm import load_values, merge_values
from kubedefis.core.shell import Status
from kubedefis.harness import stage as stack
from kubedefis.harness.target import Component
from kubedefis.stack import deploy, images

LIVE_ONLY = ("-m", "not static")


def two_database_pods(docs):
    for d in of_kind(docs, "Deployment"):
        if d["metadata"]["name"] == "postgresql":
            d["spec"]["replicas"] = 2


def ingress_for_another_host(docs):
    for ing in of_kind(docs, "Ingress"):
        for rule in ing["spec"]["rules"]:
            rule["host"] = "autre.example.org"


def api_with_two_replicas(docs):
    for d in of_kind(docs, "Deployment"):
        if d["metadata"]["name"] == "api":
            d["spec"]["replicas"] = 2


def site_for_the_ingress_host_only(docs):
    """A site that only accepts the name the Ingress will give it (défi 4's), not kubectl proxy's requests."""
    for d in of_kind(docs, "Deployment"):
        for c in d["spec"]["template"]["spec"]["containers"]:
            for env in c.get("env") or []:
                if env["name"] == "DJANGO_ALLOWED_HOSTS":
                    env["value"] = "django.kubedefis.csc8567.luxbulb.org"


def ingress_to_a_port_the_service_lacks(docs):
    for ing in of_kind(docs, "Ingress"):
        for rule in ing["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                p["backend"]["service"]["port"] = {"number": 8080}


def ingress_with_a_catch_all_rule(docs):
    """A second rule without host: every name reaches the site, not only its own."""
    for ing in of_kind(docs, "Ingress"):
        ing["spec"]["rules"].append({"http": ing["spec"]["rules"][0]["http"]})


def api_service_selects_every_django_pod(docs):
    """The partial fault: /api goes to a Service that selects the public pods too (half the answers wrong)."""
    for s in of_kind(docs, "Service"):
        if s["metadata"]["name"] == "api":
            s["spec"]["selector"] = {"app.kubernetes.io/name": "kubedefis"}


HANDIN_CASES = {
    "defi5-api-two-replicas": (
        "defi5",
        "test_defi5.py",
        api_with_two_replicas,
        {"test_three_ready_replicas_with_resources", "test_handin_three_replicas_with_resources"},
    ),
    "D3.4-site-refuses-the-proxy": (
        "defi3",
        "test_defi3.py",
        site_for_the_ingress_host_only,
        {"test_car_created_through_api_is_shown_by_public_page"},
    ),
    "D4.2-backend-port-missing": (
        "defi4",
        "test_defi4.py",
        ingress_to_a_port_the_service_lacks,
        {"test_site_answers_through_ingress"},
    ),
    "D4.3-catch-all-rule": ("defi4", "test_defi4.py", ingress_with_a_catch_all_rule, {"test_other_host_is_not_routed"}),
}

# Run without the static tier: these break what the hand-in's manifests show as well.
LIVE_HANDIN_CASES = {
    # (its manifests' D3.2 is test_static_variants_1_11.py's D3.2-two-database-pods)
    "D3.2-two-database-pods": (
        "defi3",
        "test_defi3.py",
        two_database_pods,
        {"test_database_is_one_pod_deployment_behind_clusterip"},
    ),
    "D5.4-api-service-selects-every-django-pod": (
        "defi5",
        "test_defi5.py",
        api_service_selects_every_django_pod,
        {"test_ingress_routes_by_path"},
    ),
}

CHART_CASES = {
    "defi7-database-as-deployment": (
        "defi7",
        "test_defi7.py",
        {"database": {"kind": "Deployment"}},
        {
            "test_database_is_a_one_replica_statefulset",
            "test_database_volume_is_a_bound_100mi_claim",
            "test_headless_service_resolves_pod_name",
            "test_rows_survive_database_pod_deletion",
            "test_rendered_database_is_a_one_replica_statefulset",
            "test_rendered_database_claims_100mi",
            "test_rendered_headless_service_is_what_the_site_uses",
        },
    ),
    "defi10-no-probes": (
        "defi10",
        "test_defi10.py",
        {"probes": {"enabled": False}},
        {
            "test_rendered_containers_have_fitting_probes",
            "test_live_containers_have_fitting_probes",
            "test_every_hung_container_is_restarted",
        },
    ),
    "defi11-no-policy": (
        "defi11",
        "test_defi11.py",
        {"networkPolicy": {"enabled": False}},
        {"test_rendered_policy_admits_only_api_and_public", "test_other_pods_are_blocked"},
    ),
}


def edited_chart(tmp_path: Path, *edits: tuple[str, str, str]) -> Path:
    """A copy of our chart with several template edits (broken_chart's, one after the other)."""
    chart = broken_chart(tmp_path, *edits[0])
    for file, old, new in edits[1:]:
        template = chart / file
        text = template.read_text()
        assert old in text, f"{file} no longer contains {old!r}: update the variant"
        template.write_text(text.replace(old, new))
    return chart


# Our chart with slips a group makes, each seen on the cluster only: (preset, module, template
# edits, values override, the tests that must fail); run without the static tier.
LIVE_CHART_CASES = {
    # no policy: every pod reaches PostgreSQL (the static D11.1 sees it too)
    "D11.3-no-policy": (
        "defi11",
        "test_defi11.py",
        (),
        {"networkPolicy": {"enabled": False}},
        {"test_other_pods_are_blocked"},
    ),
    # the site connects through the ClusterIP Service, though the headless one exists
    "D7.3-site-through-the-clusterip": (
        "defi7",
        "test_defi7.py",
        (),
        {"database": {"host": "kd-postgresql"}},
        {"test_headless_service_resolves_pod_name"},
    ),
    # PGDATA beside the claim: the volume is there and mounted, the data is not on it
    "D7.4-data-beside-the-volume": (
        "defi7",
        "test_defi7.py",
        (
            ("templates/_postgresql.tpl", "value: /var/lib/postgresql/data/pgdata", "value: /tmp/pgdata"),
            ("templates/_postgresql.tpl", "sizeLimit: 16Mi", "sizeLimit: 256Mi"),
        ),
        None,
        {"test_rows_survive_database_pod_deletion"},
    ),
    # a TCP liveness probe on PostgreSQL (a fitting type): the kernel still accepts connections
    # for a frozen server, so a hung database is never restarted
    "D10.2-database-probed-by-tcp": (
        "defi10",
        "test_defi10.py",
        (
            (
                "templates/_postgresql.tpl",
                "      livenessProbe:\n        exec:\n          command: {{ toJson $isready }}\n",
                "      livenessProbe:\n        tcpSocket:\n          port: postgresql\n",
            ),
        ),
        None,
        {"test_every_hung_container_is_restarted"},
    ),
    # the policy forgets the public pods (made ready on /healthz, so the stage still installs)
    "D11.2-public-not-admitted": (
        "defi11",
        "test_defi11.py",
        (
            ("templates/networkpolicy.yaml", "                  - public\n", ""),
            ("templates/_django.tpl", "path: /readyz", "path: /healthz"),
        ),
        None,
        {"test_site_pods_reach_the_database"},
    ),
    # the Services target a port nothing listens on: the policy is right, the site does not work
    "D11.4-services-target-a-closed-port": (
        "defi11",
        "test_defi11.py",
        (("templates/_django.tpl", "      targetPort: http\n", "      targetPort: 8080\n"),),
        None,
        {"test_site_still_reads_the_database"},
    ),
}


@pytest.mark.parametrize("case", LIVE_CHART_CASES)
def test_chart_variant_is_caught_live(case, pytester, tmp_path):
    preset, module, edits, override, must_fail = LIVE_CHART_CASES[case]
    args = ["--values", str(broken_values(tmp_path, preset, override or {}))]
    if edits:
        args += ["--chart", str(edited_chart(tmp_path, *edits))]
    results = outcomes(pytester, module, *args, *LIVE_ONLY)
    assert failed(results) == must_fail, results


def _applied_with_kubectl(cluster, namespace: str) -> None:
    """Défi 6's stage as `helm template | kubectl apply` would make it: the same objects, no Helm release."""
    tag = images.publish_stack(Status(), cluster.local_spec)
    values = merge_values(
        load_values(deploy.preset_files("defi6")),
        deploy.SIZES["small"],
        {"image": {"tag": tag}, "ingress": {"host": deploy.local_host(namespace)}},
    )
    objects = cluster.helm().template(deploy.CHART, "kd", values, namespace=namespace)
    hooks = [o for o in objects if "test" in ((o["metadata"].get("annotations") or {}).get("helm.sh/hook") or "")]
    for obj in objects:
        (obj["metadata"].get("annotations") or {}).pop("helm.sh/hook", None)
    cluster.kubectl_run(
        "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all([o for o in objects if o not in hooks])
    )
    for key in ("database", "api", "public"):
        selector = f"app.kubernetes.io/component={key}"
        stack.wait_component(cluster, namespace, Component(selector=selector), timeouts.DATABASE_READY)


@pytest.mark.breaks("D6.1")
def test_defi6_catches_a_stack_that_is_no_helm_release(request, suite, cluster, namespace, pytester, tmp_path):
    """`helm template | kubectl apply`: the same objects, no Helm release; graded as a deployed target (the
    suite does not upgrade one, so D6.3 is skipped, not passed)."""
    _applied_with_kubectl(cluster, namespace)
    target = tmp_path / "target.yaml"
    target.write_text(yaml.safe_dump({"namespace": namespace, "release": "kd", "deployed": True}))
    found = run(pytester, "test_defi6.py", "--target", str(target), *LIVE_ONLY)
    assert failed_requirements(found) == declared(request), found
    assert found.get("D6.2") == "passed" and found.get("D6.3") == "skipped", found


@pytest.mark.parametrize("case", HANDIN_CASES)
def test_handin_variant_is_caught(case, pytester, tmp_path):
    defi, module, mutate, must_fail = HANDIN_CASES[case]
    root = broken_handin(tmp_path, defi, mutate)
    results = outcomes(pytester, module, "--handin", str(root))
    assert failed(results) == must_fail, results


# What else a variant truly breaks, by chance: two PostgreSQL pods behind one Service are two
# databases, and each connection (the migration's, the sample data's, each request's) goes to either.
# Those checks may pass or not, run to run; the variant's own check must fail every time.
BY_CHANCE = {
    "D3.2-two-database-pods": {
        "test_site_is_a_deployment_behind_clusterip",
        "test_car_created_through_api_is_shown_by_public_page",
    },
}


@pytest.mark.parametrize("case", LIVE_HANDIN_CASES)
def test_handin_variant_is_caught_live(case, pytester, tmp_path):
    defi, module, mutate, must_fail = LIVE_HANDIN_CASES[case]
    root = broken_handin(tmp_path, defi, mutate)
    results = outcomes(pytester, module, "--handin", str(root), *LIVE_ONLY)
    assert must_fail <= failed(results) <= must_fail | BY_CHANCE.get(case, set()), results


@pytest.mark.parametrize("case", CHART_CASES)
def test_chart_variant_is_caught(case, pytester, tmp_path):
    preset, module, override, must_fail = CHART_CASES[case]
    values = broken_values(tmp_path, preset, override)
    results = outcomes(pytester, module, "--values", str(values))
    assert failed(results) == must_fail, results


def test_defi4_catches_an_ingress_for_another_host(pytester, tmp_path):
    root = broken_handin(tmp_path, "defi4", ingress_for_another_host)
    results = outcomes(pytester, "test_defi4.py", "--handin", str(root))
    assert failed(results) == {
        "test_handin_ingress_routes_host_to_site_service",
        "test_site_answers_through_ingress",
        "test_other_host_is_not_routed",
    }, results


@pytest.mark.breaks("D6.3")
def test_defi6_catches_pods_that_do_not_roll_on_a_config_change(request, pytester, tmp_path):
    """The classic slip: no checksum annotations, so `helm upgrade` changes the ConfigMap and the running
    pods keep the old environment."""
    chart = broken_chart(
        tmp_path, "templates/_django.tpl", '{{- include "kubedefis.checksums" $ctx | nindent 8 }}', "{}"
    )
    caught(request, pytester, "test_defi6.py", "--chart", str(chart))
