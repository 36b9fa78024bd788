"""Défi 19 — Cognac : production settings, and a release workflow that tests on the cluster before production.

Production: DEBUG off; Django's key and the database password only in a Secret (generated at
install, never in a ConfigMap or a value in clear); HTTPS on the Ingress, plain-HTTP requests that
came through it redirected (301), Strict-Transport-Security, nosniff, frame DENY, a referrer
policy; every pod non-root, read-only root filesystem, no privilege escalation, no capability,
RuntimeDefault seccomp: the namespace enforces the `restricted` Pod Security Standard and
everything still runs.

Release workflow (`kubedefis release`, kubedefis/release.py): the new version goes to a staging
namespace first, the conformance subset and `helm test` run there, and production is upgraded only
if all pass. The test releases a broken image (a site that refuses to start) while users browse
production: staging stops it, production keeps its revision, its images and every request.

On the 2-CPU local node production runs 2 api + 2 public pods here and staging 1 + 1, so that
both fit next to each other (each pod requests 100m).
"""

from __future__ import annotations

import pytest

from kubedefis import kube, paths, release
from kubedefis.harness import access, checks, helm, load, stack, timeouts
from kubedefis.harness.helm import merge_values
from kubedefis.release import install_ready_stack as install
from kubedefis.shell import Status
from kubedefis.waits import Check, wait_for

PRESET = "defi19"
CHART = paths.REPO_ROOT / "chart"
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}
SIZE = {"api": {"replicaCount": 2}, "public": {"replicaCount": 2}}
SECRET_KEYS = ("DJANGO_SECRET_KEY", "POSTGRES_PASSWORD")
HEADERS = {
    "strict-transport-security": "max-age=31536000",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


@pytest.fixture(scope="module")
def rendered(suite):
    from kubedefis.pytest_plugin import find_tool

    chart = suite.chart_under_test()
    values = helm.load_values(stack.chart_values(suite, PRESET))
    return helm.Helm(find_tool("helm")).template(chart, suite.target.release, values)


def https_host(cluster, host: str) -> str:
    return host if cluster.https_port == 443 else f"{host}:{cluster.https_port}"


@pytest.fixture(scope="module")
def values(suite, cluster, namespace):
    if not suite.target.deployed:
        labels = [f"{k}={v}" for k, v in RESTRICTED.items()]
        cluster.kubectl_run("label", "namespace", namespace, "--overwrite", *labels)
    base = helm.load_values(stack.chart_values(suite, PRESET))
    host = suite.target.ingress_host or base.get("ingress", {}).get("host") or "django.kubedefis.localhost"
    if not suite.target.deployed and cluster.local_spec is not None and suite.chart.resolve() == CHART.resolve():
        host = f"django.{namespace}.localhost"  # what stack.install_chart gives each namespace
    overrides = merge_values(SIZE, {"django": {"security": {"httpsHost": https_host(cluster, host)}}})
    return install(cluster, suite, namespace, PRESET, overrides)


@pytest.fixture(scope="module")
def site(suite, cluster, values):
    host = suite.target.ingress_host or values.get("ingress", {}).get("host") or "django.kubedefis.localhost"
    return cluster.ingress(host)


def security_findings(objects) -> list[checks.Finding]:
    """The restricted Pod Security Standard's rules, on every pod template, and secrets' origin."""
    findings = []
    for obj in objects:
        if obj.get("kind") not in ("Deployment", "StatefulSet", "Job", "CronJob", "Pod", "DaemonSet"):
            continue
        where = checks.name_of(obj)
        pod = checks.pod_spec(obj)
        pod_sc = pod.get("securityContext") or {}
        for container in checks.containers(obj, init=True):
            sc = {**pod_sc, **(container.get("securityContext") or {})}
            name = f"{where} container {container.get('name')}"
            if sc.get("runAsNonRoot") is not True or sc.get("runAsUser") == 0:
                findings.append(checks.Finding(name, "runAsNonRoot", str(sc.get("runAsNonRoot"))))
            if sc.get("allowPrivilegeEscalation") is not False:
                findings.append(
                    checks.Finding(name, "allowPrivilegeEscalation: false", str(sc.get("allowPrivilegeEscalation")))
                )
            if sc.get("readOnlyRootFilesystem") is not True:
                findings.append(
                    checks.Finding(name, "readOnlyRootFilesystem: true", str(sc.get("readOnlyRootFilesystem")))
                )
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                findings.append(checks.Finding(name, "capabilities drop ALL", str(sc.get("capabilities"))))
            if (sc.get("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"):
                findings.append(checks.Finding(name, "seccompProfile RuntimeDefault", str(sc.get("seccompProfile"))))
            for env in container.get("env") or []:
                if env["name"] in SECRET_KEYS and "secretKeyRef" not in (env.get("valueFrom") or {}):
                    findings.append(checks.Finding(name, f"{env['name']} from a Secret", str(env)))
    for obj in objects:
        if obj.get("kind") == "ConfigMap":
            leaked = [k for k in (obj.get("data") or {}) if any(w in k.upper() for w in ("SECRET", "PASSWORD"))]
            if leaked:
                findings.append(checks.Finding(checks.name_of(obj), "no secret in a ConfigMap", str(leaked)))
    return findings


@pytest.mark.static
@pytest.mark.requirement(
    "D19.1", "production values: DEBUG off, HTTPS redirect and HSTS, secrets from Secrets, restricted pods"
)
def test_rendered_production_settings(rendered):
    config = next(o for o in rendered if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-config"))
    data = config["data"]
    findings = security_findings(rendered)
    expected = {"DJANGO_DEBUG": "false", "DJANGO_HTTPS_REDIRECT": "true", "DJANGO_NAIVE": "false"}
    for key, value in expected.items():
        if data.get(key) != value:
            findings.append(checks.Finding(checks.name_of(config), f"{key}={value}", str(data.get(key))))
    if int(data.get("DJANGO_HSTS_SECONDS", "0")) < 15552000:
        findings.append(
            checks.Finding(checks.name_of(config), "HSTS for at least 180 days", data.get("DJANGO_HSTS_SECONDS"))
        )
    ingress = next((o for o in rendered if o["kind"] == "Ingress"), None)
    if not ingress or not ingress["spec"].get("tls"):
        findings.append(checks.Finding("Ingress", "a tls section", "none"))
    checks.require("D19.1 production settings", findings)


@pytest.mark.requirement("D19.2", "the namespace enforces the restricted Pod Security Standard and everything runs")
def test_restricted_namespace_runs_everything(suite, cluster, namespace, values):
    ns = cluster.kube.core.read_namespace(namespace)
    assert (ns.metadata.labels or {}).get("pod-security.kubernetes.io/enforce") == "restricted", ns.metadata.labels
    objects = [checks.live(p) for p in cluster.kube.core.list_namespaced_pod(namespace).items]
    for obj in objects:
        obj["kind"] = "Pod"
    checks.require("D19.2 pods", [f for f in security_findings(objects) if "test-" not in f.where])
    events = kube.recent_events(cluster.kube, namespace, limit=200)
    assert "violates PodSecurity" not in events, events
    for name in ("database", "api", "public"):
        stack.wait_component(cluster, namespace, suite.target.component(name), timeouts.ROLLOUT)


@pytest.mark.requirement(
    "D19.3", "HTTP through the Ingress is redirected to HTTPS; HTTPS answers with the security headers"
)
def test_https_redirect_and_headers(cluster, site, values):
    redirect = access.wait_http(
        "the redirect to HTTPS", lambda: site.get("/voitures/?page=2"), expect=lambda r: r.status == 301,
        timeout=timeouts.HTTP_READY,
    )  # fmt: skip
    location = redirect.headers.get("location", "")
    assert location == f"https://{https_host(cluster, site.host)}/voitures/?page=2", location
    for path in ("/", "/api/cars"):
        page = site.get(path, scheme="https")
        assert page.status == 200, page
        for header, value in HEADERS.items():
            assert page.headers.get(header) == value, (path, header, page.headers)
    assert site.get("/healthz").status == 200, "the probes' path is redirected"
    missing = site.get("/no-such-page/", scheme="https")
    assert missing.status == 404 and "URLconf" not in missing.text and "Traceback" not in missing.text


@pytest.mark.requirement("D19.4", "Django's key and the database password come only from a Secret")
def test_secrets_only_from_secrets(suite, cluster, namespace, values):
    pods = cluster.kube.core.list_namespaced_pod(
        namespace, label_selector="app.kubernetes.io/component in (api,public)"
    ).items
    assert pods
    for pod in pods:
        for container in pod.spec.containers:
            env = {e.name: e for e in container.env or []}
            for key in SECRET_KEYS:
                assert key in env and env[key].value_from and env[key].value_from.secret_key_ref, (
                    pod.metadata.name,
                    key,
                )
    for config_map in cluster.kube.core.list_namespaced_config_map(namespace).items:
        for key in config_map.data or {}:
            assert "SECRET" not in key.upper() and "PASSWORD" not in key.upper(), (config_map.metadata.name, key)


@pytest.mark.disruptive
@pytest.mark.needs("list", "secrets")
@pytest.mark.requirement("D19.5", "a broken release is stopped at staging; production keeps its version and serves")
def test_broken_release_stopped_at_staging(suite, cluster, namespace, values, site, record_property):
    if not suite.allow_disruption or cluster.local_spec is None or suite.target.deployed:
        pytest.skip("builds a broken image and installs a staging namespace: the local cluster only")
    broken = release.build_release("broken", Status())
    cluster.load_images(release.release_refs(broken))
    before = cluster.helm().history(suite.target.release, namespace)[-1]
    images_before = {c.image for p in cluster.kube.core.list_namespaced_pod(namespace).items for c in p.spec.containers}
    staging = f"{namespace}-staging"[:63]
    workflow = release.ReleaseWorkflow(
        release.ReleasePlan(
            chart=suite.chart,
            values=values,
            image_tag=broken,
            staging=staging,
            production=namespace,
            release_name=suite.target.release,
            kubeconfig=cluster.kubeconfig,
            context=cluster.kube.context,
            suite=release.DEFAULT_SUITE,
            helm_timeout=150,
        ),
        cluster.helm(),
        cluster.kubectl_command(),
        Status(),
    )
    scenario = load.Scenario.site(site, "Browser", scheme="https")  # plain HTTP is redirected
    with load.run(scenario, users=4, duration=timeouts.RELEASE) as running:
        running.wait_requests(40, timeout=timeouts.LOAD_SPAWN)
        report = workflow.run()
    result = running.result
    assert result is not None
    record_property("release_steps", [(name, ok) for name, ok, _ in report.steps])
    record_property("production_load", result.as_dict())
    assert not report.promoted, report.text()
    assert report.steps and not report.steps[-1][1], report.text()
    after = cluster.helm().history(suite.target.release, namespace)[-1]
    assert after["revision"] == before["revision"], (before, after)
    images_after = {c.image for p in cluster.kube.core.list_namespaced_pod(namespace).items for c in p.spec.containers}
    assert not any(broken in image for image in images_after), images_after
    assert images_after <= images_before | {i for i in images_after if "attack" in i}, (images_before, images_after)
    assert result.total.requests > 0 and result.total.failures == 0, result.report()

    def staging_gone() -> Check[None]:
        names = {n.metadata.name for n in cluster.kube.core.list_namespace().items}
        return Check(staging not in names, state=f"namespace {staging} still there")

    wait_for("the staging namespace to be deleted", staging_gone, timeout=timeouts.NAMESPACE_DELETE)
