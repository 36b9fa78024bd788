"""Défis 1–7, 10, 11, static tier: each variant breaks one requirement where it can be seen without a cluster
(the hand-in's manifests, or our chart rendered), and the module's static checks fail on that one only.

Each variant runs the défi's module as a grader would (`-m static`, `--handin DIR` or `--chart` /
`--values`), in this process: seconds each, no cluster. The live-only requirements have their
variants in test_broken_defi1_2.py and test_broken_defi3_11.py.
"""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from variants import REAL_CACHE, broken_chart, broken_handin, broken_values, failed, of_kind

from kubedefis.core import paths


def static_outcomes(pytester: pytest.Pytester, module: str, *args: str) -> dict[str, str]:
    """Run conformance/<module>'s static tier in this process; test name -> passed/failed/error/skipped."""
    report = pytester.path / f"static-{module}.xml"
    os.environ["KUBEDEFIS_CACHE"] = REAL_CACHE  # pytester's HOME is empty: helm and kubeconform are in the cache
    pytester.runpytest_inprocess(
        str(paths.REPO_ROOT / "conformance" / module),
        "-m",
        "static",
        f"--junitxml={report}",
        "-p",
        "no:cacheprovider",
        *args,
    )
    results: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        outcome = next((k for k in ("failure", "error", "skipped") if k in kinds), "passed")
        results[case.get("name", "")] = {"failure": "failed"}.get(outcome, outcome)
    return results


# --- hand-in mutations ----------------------------------------------------------------------------


def containers(docs, kind="Deployment", name=None):
    return [
        c
        for d in of_kind(docs, kind)
        if name is None or d["metadata"]["name"] == name
        for c in d["spec"]["template"]["spec"]["containers"]
    ]


def set_image(image, name=None):
    def mutate(docs):
        for c in containers(docs, name=name):
            c["image"] = image

    return mutate


def set_replicas(count, name=None):
    def mutate(docs):
        for d in of_kind(docs, "Deployment"):
            if name is None or d["metadata"]["name"] == name:
                d["spec"]["replicas"] = count

    return mutate


def no_limits(name=None):
    def mutate(docs):
        for c in containers(docs, name=name):
            c.get("resources", {}).pop("limits", None)

    return mutate


def target_port(port):
    def mutate(docs):
        for s in of_kind(docs, "Service"):
            for p in s["spec"]["ports"]:
                p["targetPort"] = port

    return mutate


def misspelt_field(docs):  # `imagePullpolicy`: kubectl apply would refuse it (strict decoding)
    for c in containers(docs):
        c["imagePullpolicy"] = c.pop("imagePullPolicy", "IfNotPresent")


def service_type(kind, name):
    def mutate(docs):
        for s in of_kind(docs, "Service"):
            if s["metadata"]["name"] == name:
                s["spec"]["type"] = kind

    return mutate


def ingress_backend(service, path=None):
    def mutate(docs):
        for ing in of_kind(docs, "Ingress"):
            for rule in ing["spec"]["rules"]:
                for p in rule["http"]["paths"]:
                    if path is None or p["path"] == path:
                        p["backend"]["service"]["name"] = service

    return mutate


def service_selects_the_release(name):
    """The classic partial fault: a Service selecting by the app's common label, so every Django pod."""

    def mutate(docs):
        for s in of_kind(docs, "Service"):
            if s["metadata"]["name"] == name:
                s["spec"]["selector"] = {"app.kubernetes.io/name": "kubedefis"}

    return mutate


def one_file_for_both(root: Path) -> None:
    """Défi 3 with the database's Deployment moved into the site's file."""
    folder = root / "defi3"
    moved = (folder / "postgresql-deployment.yaml").read_text()
    (folder / "postgresql-deployment.yaml").unlink()
    site = folder / "site-deployment.yaml"
    site.write_text(site.read_text() + "\n---\n" + moved)


# requirement id: (défi folder, module, mutation of each file's objects, or of the folder, the tests that must fail)
HANDIN_CASES: dict[str, tuple[str, str, Callable, set[str]]] = {
    "D1.1-another-image": (
        "defi1",
        "test_defi1.py",
        set_image("nginx:1.27"),
        {"test_handin_is_a_deployment_of_the_web_image"},
    ),
    "D2.1-two-replicas": ("defi2", "test_defi2.py", set_replicas(2), {"test_handin_declares_three_replicas"}),
    "D2.2-no-limits": ("defi2", "test_defi2.py", no_limits(), {"test_handin_declares_requests_and_limits"}),
    "D2.3-wrong-target-port": ("defi2", "test_defi2.py", target_port(8080), {"test_handin_service_routes_to_the_pods"}),
    "D2.5-misspelt-field": ("defi2", "test_defi2.py", misspelt_field, {"test_handin_manifests_are_valid"}),
    "D3.1-one-file": (
        "defi3",
        "test_defi3.py",
        one_file_for_both,
        {"test_handin_has_site_and_database_deployments_in_separate_files"},
    ),
    "D3.2-two-database-pods": (
        "defi3",
        "test_defi3.py",
        set_replicas(2, "postgresql"),
        {"test_handin_database_is_one_pod_deployment_behind_clusterip"},
    ),
    "D3.3-site-nodeport": (
        "defi3",
        "test_defi3.py",
        service_type("NodePort", "site"),
        {"test_handin_site_is_a_deployment_behind_clusterip"},
    ),
    "D4.1-backend-not-in-handin": (
        "defi4",
        "test_defi4.py",
        ingress_backend("site-svc"),
        {"test_handin_ingress_routes_host_to_site_service"},
    ),
    "D5.1-one-image": (
        "defi5",
        "test_defi5.py",
        set_image("kubedefis/api:0.1.0", "public"),
        {"test_handin_api_and_public_use_two_images"},
    ),
    "D5.2-api-two-replicas": (
        "defi5",
        "test_defi5.py",
        set_replicas(2, "api"),
        {"test_handin_three_replicas_with_resources"},
    ),
    "D5.3-database-unlimited": (
        "defi5",
        "test_defi5.py",
        no_limits("postgresql"),
        {"test_handin_database_pod_with_same_resources"},
    ),
    "D5.4-api-path-to-public": (
        "defi5",
        "test_defi5.py",
        ingress_backend("public", "/api"),
        {"test_handin_ingress_routes_by_path"},
    ),
    "D5.4-api-service-selects-every-django-pod": (
        "defi5",
        "test_defi5.py",
        service_selects_the_release("api"),
        {"test_handin_ingress_routes_by_path"},
    ),
}


@pytest.mark.parametrize("case", HANDIN_CASES)
def test_handin_variant_fails_its_requirement_only(case, pytester, tmp_path):
    defi, module, mutate, must_fail = HANDIN_CASES[case]
    if mutate is one_file_for_both:
        root = tmp_path / "handin"
        shutil.copytree(paths.REPO_ROOT / "defis" / defi, root / defi)
        mutate(root)
    else:
        root = broken_handin(tmp_path, defi, mutate)
    results = static_outcomes(pytester, module, "--handin", str(root))
    assert results, "no static test ran"
    assert failed(results) == must_fail, results
    assert not [n for n, o in results.items() if o == "skipped"], results


# --- chart variants: our chart with one slip, rendered with the défi's values ----------------------

LITERAL_HOST = (
    "templates/_helpers.tpl",
    "env:\n  - name: DJANGO_SECRET_KEY",
    "env:\n  - name: POSTGRES_HOST\n    value: kd-postgresql\n  - name: DJANGO_SECRET_KEY",
)
UNDERSCORE_NAME = (
    "templates/migrate-job.yaml",
    "  name: {{ $fullname }}-{{ $job.name }}-{{ $.Release.Revision }}",
    "  name: {{ $fullname }}-{{ $job.name }}_{{ $.Release.Revision }}",
)
MISSPELT_FIELD = ("templates/_django.tpl", "  revisionHistoryLimit: 5\n", "  revisionHistoryLimt: 5\n")
TWO_REPLICAS = (
    "templates/postgresql-statefulset.yaml",
    "  replicas: 1\n  serviceName:",
    "  replicas: 2\n  serviceName:",
)
OPEN_RULE = (
    "templates/networkpolicy.yaml",
    "      ports:\n        - protocol: TCP",
    "    - ports:\n        - protocol: TCP",
)

# requirement id: (module, preset, chart edit or None, values override or None, the tests that must fail)
CHART_CASES: dict[str, tuple[str, str, tuple[str, str, str] | None, dict | None, set[str]]] = {
    "D6.2-host-set-in-the-pod-spec": (
        "test_defi6.py",
        "defi6",
        LITERAL_HOST,
        None,
        {"test_rendered_database_settings_come_from_a_configmap"},
    ),
    "D6.4-name-helm-lint-refuses": ("test_defi6.py", "defi6", UNDERSCORE_NAME, None, {"test_chart_lints_clean"}),
    "D6.5-misspelt-field": ("test_defi6.py", "defi6", MISSPELT_FIELD, None, {"test_chart_renders_valid_objects"}),
    "D7.1-two-replicas": (
        "test_defi7.py",
        "defi7",
        TWO_REPLICAS,
        None,
        {"test_rendered_database_is_a_one_replica_statefulset"},
    ),
    "D7.2-one-gigabyte": (
        "test_defi7.py",
        "defi7",
        None,
        {"database": {"storage": {"size": "1Gi"}}},
        {"test_rendered_database_claims_100mi"},
    ),
    "D7.3-site-through-the-clusterip": (
        "test_defi7.py",
        "defi7",
        None,
        {"database": {"host": "kd-postgresql"}},
        {"test_rendered_headless_service_is_what_the_site_uses"},
    ),
    "D10.1-no-probes": (
        "test_defi10.py",
        "defi10",
        None,
        {"probes": {"enabled": False}},
        {"test_rendered_containers_have_fitting_probes"},
    ),
    "D11.1-no-policy": (
        "test_defi11.py",
        "defi11",
        None,
        {"networkPolicy": {"enabled": False}},
        {"test_rendered_policy_admits_only_api_and_public"},
    ),
    "D11.1-a-rule-without-sources": (
        "test_defi11.py",
        "defi11",
        OPEN_RULE,
        None,
        {"test_rendered_policy_admits_only_api_and_public"},
    ),
}


@pytest.mark.parametrize("case", CHART_CASES)
def test_chart_variant_fails_its_requirement_only(case, pytester, tmp_path):
    module, preset, edit, override, must_fail = CHART_CASES[case]
    args = []
    if edit:
        args += ["--chart", str(broken_chart(tmp_path, *edit))]
    # the défi's values and local.yaml, and the slip if it is one of values
    args += ["--values", str(broken_values(tmp_path, preset, override or {}))]
    results = static_outcomes(pytester, module, *args)
    assert results, "no static test ran"
    assert failed(results) == must_fail, results
    assert not [n for n, o in results.items() if o == "skipped"], results


def test_every_static_requirement_of_defis_1_to_11_has_a_variant():
    """The ids the static tiers check, each broken by at least one variant above."""
    ids = set()
    for module in ("1", "2", "3", "4", "5", "6", "7", "10", "11"):
        text = (paths.REPO_ROOT / "conformance" / f"test_defi{module}.py").read_text()
        blocks = text.split("@pytest.mark.static")[1:]
        for block in blocks:
            marker = block.split('@pytest.mark.requirement("', 1)[1]
            ids.add(marker.split('"', 1)[0])
    covered = {case.split("-", 1)[0] for case in (*HANDIN_CASES, *CHART_CASES)}
    assert ids <= covered, f"static requirements without a variant: {sorted(ids - covered)}"
