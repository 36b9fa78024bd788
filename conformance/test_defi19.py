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

On the 2-CPU local node production runs 2 api + 2 public pods here and staging 1 + 1, every pod
requesting 20m (the "small" size): both fit beside the course-size stage of the course lane, and
this module runs in a lane of its own with the other small stages that load the site.

One id per requirement, each checked on the rendered chart and on the cluster: DEBUG off (D19.1),
restricted Pod Security (D19.2: the namespace refuses a pod that breaks it and admits one that
keeps it, and every pod of the stack keeps it), HTTPS (D19.3), secrets only in Secrets (D19.4),
the release workflow (D19.5). The site's settings are read from its containers' environment
resolved through their ConfigMaps and Secrets; pods are the target's components.
"""

from __future__ import annotations

import re

import pytest
from kubernetes.client.exceptions import ApiException

from kubedefis.core import kube, manifests, paths, timeouts
from kubedefis.core.shell import Status
from kubedefis.core.waits import Check, wait_for
from kubedefis.harness import access, checks, discover, load
from kubedefis.harness import stage as stack
from kubedefis.harness.target import with_query
from kubedefis.stack import deploy, images, release

PRESET = "defi19"
SIZE = "small"  # checks neither requests nor the course's counts (its counts: OVERRIDES)
LANE = "load"  # it loads the site: beside the course lane, not beside défi 20 (see harness.plugin.lane_of)
CHART = paths.REPO_ROOT / "chart"
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}
# Production runs 2 api + 2 public pods here, so that staging (1 + 1) fits beside it.
OVERRIDES = {"api": {"replicaCount": 2}, "public": {"replicaCount": 2}}
# Settings that are secrets, by name: Django's key, passwords, tokens, private keys, URLs with credentials.
SECRET_NAME = re.compile(r"SECRET|PASSW|TOKEN|PRIVATE|CREDENTIAL|_KEY$", re.IGNORECASE)
# What the site needs from a Secret: Django's key, and the database password (or a URL holding it).
NEEDED = {
    "Django's secret key": re.compile(r"SECRET", re.I),
    "the database password": re.compile(r"PASS|DATABASE_URL", re.I),
}
HSTS_MIN = 15552000  # 180 days
MIN_REQUESTS = 500  # the "production served every request" claim rests on at least this many
HEADERS = {
    "strict-transport-security": "max-age=31536000",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


def https_host(cluster, host: str) -> str:
    return host if cluster.https_port == 443 else f"{host}:{cluster.https_port}"


@pytest.fixture(scope="module")
def stage_overrides(suite, cluster, namespace):
    """The production namespace as the hand-in's commands make it (restricted), and HTTPS on its own host."""
    if not suite.target.deployed:
        labels = [f"{k}={v}" for k, v in RESTRICTED.items()]
        cluster.kubectl_run("label", "namespace", namespace, "--overwrite", *labels)
    host = suite.target.ingress_host or deploy.local_host(namespace)
    return {"django": {"security": {"httpsHost": https_host(cluster, host)}}}


POD_KINDS = ("Deployment", "StatefulSet", "Job", "CronJob", "Pod", "DaemonSet")


def security_findings(objects) -> list[checks.Finding]:
    """The restricted Pod Security Standard's rules, on every pod template (helm test pods aside)."""
    findings = []
    for obj in objects:
        if obj.get("kind") not in POD_KINDS:
            continue
        if (obj.get("metadata", {}).get("annotations") or {}).get("helm.sh/hook") == "test":
            continue
        where = manifests.name_of(obj)
        pod = manifests.pod_spec(obj)
        pod_sc = pod.get("securityContext") or {}
        for container in manifests.containers(obj, init=True):
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
    return findings


def secret_findings(objects, containers) -> list[checks.Finding]:
    """Secret settings come from Secrets only: the site's key and password from one, none in a ConfigMap or in
    clear, and no value of a Secret the site reads repeated in a ConfigMap or a literal variable."""
    findings = []
    secret_values = set()
    for where, container in containers:
        env = discover.env_of(objects, container)
        for name, value in env.items():
            if SECRET_NAME.search(name) and value.source != "secret":
                findings.append(checks.Finding(where, f"{name} from a Secret", value.source))
            if value.source == "secret" and value.value and len(value.value) >= 8:
                secret_values.add(value.value)
        for what, pattern in NEEDED.items():
            if not any(pattern.search(n) and v.source == "secret" for n, v in env.items()):
                findings.append(checks.Finding(where, f"{what} from a Secret", str(sorted(env))))
    for obj in objects:
        if obj.get("kind") == "ConfigMap":
            data = obj.get("data") or {}
            leaked = [k for k in data if SECRET_NAME.search(k)]
            leaked += [f"{k} (a Secret's value)" for k, v in data.items() if any(s in str(v) for s in secret_values)]
            if leaked:
                findings.append(checks.Finding(manifests.name_of(obj), "no secret in a ConfigMap", str(leaked)))
        for container in manifests.containers(obj, init=True) if obj.get("kind") in POD_KINDS else []:
            for item in container.get("env") or []:
                if "value" in item and any(s in str(item["value"]) for s in secret_values):
                    where = f"{manifests.name_of(obj)} container {container.get('name')}"
                    findings.append(checks.Finding(where, f"{item['name']} not a Secret's value in clear", "it is"))
    return findings


def site_containers(objects, suite, selectors: list[str] | None = None) -> list[tuple[str, dict]]:
    """The containers of the site: its Deployments (api, public) in a rendered chart, or the live pods the
    selectors select."""
    if selectors is None:
        found = [
            o for key in ("api", "public") for o in discover.workloads(objects, suite.target, key, ("Deployment",))
        ]
    else:
        found = [
            o
            for o in objects
            if o.get("kind") == "Pod" and any(manifests.selects(s, manifests.pod_labels(o)) for s in selectors)
        ]
    return [(f"{manifests.name_of(o)} container {c.get('name')}", c) for o in found for c in manifests.containers(o)]


def settings(objects, suite) -> dict[str, dict[str, discover.EnvValue]]:
    """Each site container's environment, resolved."""
    return {where: discover.env_of(objects, c) for where, c in site_containers(objects, suite)}


def by_suffix(env: dict[str, discover.EnvValue], suffix: str) -> dict[str, str | None]:
    return {n: v.value for n, v in env.items() if n.upper().endswith(suffix)}


@pytest.mark.static
@pytest.mark.requirement("D19.1", "production settings: DEBUG off")
def test_rendered_production_settings(suite, rendered):
    findings = []
    envs = settings(rendered, suite)
    if not envs:
        findings.append(checks.Finding("the site", "api and public Deployments (the target's components)", "none"))
    for where, env in envs.items():
        for suffix in ("DEBUG", "NAIVE"):
            on = {n: v for n, v in by_suffix(env, suffix).items() if discover.truthy(v)}
            if on:
                findings.append(checks.Finding(where, f"{suffix} off", str(on)))
    checks.require("D19.1 production settings", findings)


@pytest.mark.static
@pytest.mark.requirement("D19.2", "every pod runs under the restricted Pod Security Standard")
def test_rendered_restricted_pods(rendered):
    checks.require("D19.2 restricted pods", security_findings(rendered))


@pytest.mark.static
@pytest.mark.requirement("D19.3", "HTTPS on the Ingress, plain HTTP redirected, HSTS for at least 180 days")
def test_rendered_https(suite, rendered):
    findings = []
    ingresses = [o for o in rendered if o["kind"] == "Ingress"]
    if not ingresses or not all(i["spec"].get("tls") for i in ingresses):
        findings.append(
            checks.Finding("Ingress", "a tls section on each", str([manifests.name_of(i) for i in ingresses]))
        )
    for where, env in settings(rendered, suite).items():
        redirect = by_suffix(env, "HTTPS_REDIRECT") or by_suffix(env, "SSL_REDIRECT")
        if not any(discover.truthy(v) for v in redirect.values()):
            findings.append(checks.Finding(where, "the redirect to HTTPS on", str(redirect or "unset")))
        hsts = by_suffix(env, "HSTS_SECONDS")
        if not any((v or "").isdigit() and int(v or "0") >= HSTS_MIN for v in hsts.values()):
            findings.append(checks.Finding(where, "HSTS for at least 180 days", str(hsts or "unset")))
    checks.require("D19.3 HTTPS", findings)


@pytest.mark.static
@pytest.mark.requirement("D19.4", "Django's key and the database password come only from a Secret")
def test_rendered_secrets(suite, rendered):
    checks.require("D19.4 secrets", secret_findings(rendered, site_containers(rendered, suite)))


# --- live tier --------------------------------------------------------------------------------------


@pytest.mark.requirement("D19.1", "production settings: DEBUG off (no error details)")
def test_no_error_details(values, site):
    for path in ("/no-such-page/", "/api/no-such-endpoint"):
        missing = site.get(path, scheme="https")
        assert missing.status == 404, f"expected 404 for {path}, found {missing}"
        leaks = [w for w in ("URLconf", "Traceback", "DEBUG = True") if w in missing.text]
        assert not leaks, f"expected no error details for {path}, found {leaks}"


def pod_manifest(name: str, image: str, restricted: bool) -> dict:
    container = {"name": "probe", "image": image, "command": ["true"]}
    pod: dict = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [container]}}
    if restricted:
        pod["spec"]["securityContext"] = {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        container["securityContext"] = {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
        }
    else:
        container["securityContext"] = {"privileged": True, "allowPrivilegeEscalation": True}
    return pod


@pytest.mark.needs("create", "pods")
@pytest.mark.requirement("D19.2", "the namespace refuses a pod breaking the restricted standard, admits one keeping it")
def test_namespace_enforces_restricted(suite, cluster, namespace, values):
    image = (
        stack.a_running_pod(cluster, namespace, stack.resolve(cluster, namespace, suite.target.component("api")))
        .spec.containers[0]
        .image
    )
    core = cluster.kube.core
    try:
        core.create_namespaced_pod(namespace, pod_manifest("kd-psa-breaks", image, restricted=False), dry_run="All")
        refused = ""
    except ApiException as exc:
        refused = exc.body or str(exc)
    assert "violates PodSecurity" in refused and "restricted" in refused, (
        f"expected a privileged pod refused by Pod Security (restricted), found {refused or 'it was admitted'}"
    )
    try:
        core.create_namespaced_pod(namespace, pod_manifest("kd-psa-keeps", image, restricted=True), dry_run="All")
    except ApiException as exc:
        pytest.fail(f"expected a pod keeping the restricted standard admitted, found it refused: {exc.body or exc}")


@pytest.mark.requirement("D19.2", "every pod of the stack keeps the restricted standard and runs")
def test_restricted_namespace_runs_everything(suite, cluster, namespace, values):
    for name in ("database", "api", "public"):
        stack.wait_component(cluster, namespace, suite.target.component(name), timeouts.ROLLOUT)
    objects = [manifests.live(p) for p in cluster.kube.core.list_namespaced_pod(namespace).items]
    for obj in objects:
        obj["kind"] = "Pod"
    checks.require("D19.2 pods", security_findings(objects))
    events = kube.recent_events(cluster.kube, namespace, limit=200)
    assert "violates PodSecurity" not in events, f"expected no pod refused by Pod Security, found:\n{events}"


@pytest.mark.requirement(
    "D19.3", "HTTP through the Ingress is redirected to HTTPS; HTTPS answers with the security headers"
)
def test_https_redirect_and_headers(suite, cluster, values, site):
    contract = suite.target.site  # its public page and API list (the target's, else ours)
    asked = with_query(contract.public_page, "page=2")  # the path and its query both kept
    redirect = access.wait_http(
        "the redirect to HTTPS", lambda: site.get(asked), expect=lambda r: r.status == 301,
        timeout=timeouts.HTTP_READY,
    )  # fmt: skip
    location = redirect.headers.get("location", "")
    assert location == f"https://{https_host(cluster, site.host)}{asked}", location
    for path in ("/", contract.api_list):
        page = site.get(path, scheme="https")
        assert page.status == 200, page
        for header, value in HEADERS.items():
            assert page.headers.get(header) == value, (path, header, page.headers)
    if contract.ours:  # our chart keeps its probes' path on plain HTTP; another's probes are its own
        assert site.get("/healthz").status == 200, "the probes' path is redirected"


@pytest.mark.needs("list", "secrets")
@pytest.mark.requirement("D19.4", "Django's key and the database password come only from a Secret")
def test_secrets_only_from_secrets(suite, cluster, namespace, values):
    objects = discover.live_objects(cluster.kube, namespace, "ConfigMap", "Secret", "Pod")
    selectors = [stack.resolve(cluster, namespace, suite.target.component(k)).selector for k in ("api", "public")]
    containers = site_containers(objects, suite, selectors)
    assert containers, "expected running api and public pods (the target's components), found none"
    checks.require("D19.4 secrets", secret_findings(objects, containers))


@pytest.mark.disruptive
@pytest.mark.needs("list", "secrets")
@pytest.mark.requirement("D19.5", "a broken release is stopped at staging; production keeps its version and serves")
def test_broken_release_stopped_at_staging(suite, cluster, namespace, values, site, record_property):
    if cluster.local_spec is None or suite.target.deployed:
        pytest.skip("builds a broken image and installs a staging namespace: the local cluster only")
    broken = images.publish_site_version("broken", Status(), cluster.local_spec)
    before = cluster.helm().history(suite.target.release, namespace)[-1]
    images_before = {c.image for p in cluster.kube.core.list_namespaced_pod(namespace).items for c in p.spec.containers}
    staging = staging_of(namespace)
    workflow = release_workflow(suite, cluster, namespace, values, broken)
    scenario = load.Scenario.site(site, "Browser", scheme="https", site=suite.target.site)  # HTTP is redirected
    with load.run(scenario, users=4, duration=timeouts.RELEASE) as running:
        running.wait_requests(40, timeout=timeouts.LOAD_SPAWN)
        report = workflow.run()
        record_release(record_property, report)
        # The stop must be the broken version's doing: staging ran it (a chart that ignores the
        # release's tag is stopped too, but it never tested, and could never ship, a new version).
        assert report.staging_ran(broken), f"staging never ran the release's image (tag {broken}):\n{report.text()}"
        # 4 browsing users send about 4 requests/s: a release stopped within a minute (a pod that
        # fails at once) has not yet sent 500; the load's own length bounds the wait.
        running.wait_requests(MIN_REQUESTS, timeout=timeouts.RELEASE)
    result = running.result
    assert result is not None
    record_property("production_load", result.as_dict())
    assert not report.promoted, report.text()
    assert report.steps and not report.steps[-1][1], report.text()
    after = cluster.helm().history(suite.target.release, namespace)[-1]
    assert after["revision"] == before["revision"], (before, after)
    images_after = {c.image for p in cluster.kube.core.list_namespaced_pod(namespace).items for c in p.spec.containers}
    assert not any(broken in image for image in images_after), images_after
    assert images_after <= images_before | {i for i in images_after if "attack" in i}, (images_before, images_after)
    assert result.total.requests >= MIN_REQUESTS, f"expected {MIN_REQUESTS} production requests:\n{result.report()}"
    assert result.total.failures == 0, f"production requests failed during the release:\n{result.report()}"

    def staging_gone() -> Check[None]:
        names = {n.metadata.name for n in cluster.kube.core.list_namespace().items}
        return Check(staging not in names, state=f"namespace {staging} still there")

    wait_for("the staging namespace to be deleted", staging_gone, timeout=timeouts.NAMESPACE_DELETE)


@pytest.mark.disruptive
@pytest.mark.needs("list", "secrets")
@pytest.mark.requirement("D19.5", "a working release passes staging and is installed in production")
def test_working_release_reaches_production(suite, cluster, namespace, values, site, record_property):
    """The other way of the gate: a workflow that stops every release (a staging test that never
    passes) keeps production safe and never installs an update, which the défi asks for too."""
    if cluster.local_spec is None or suite.target.deployed:
        pytest.skip("builds another version and installs a staging namespace: the local cluster only")
    version = images.publish_site_version("v2", Status(), cluster.local_spec)
    before = cluster.helm().history(suite.target.release, namespace)[-1]
    report = release_workflow(suite, cluster, namespace, values, version).run()
    record_release(record_property, report)
    assert report.promoted, f"a working version ({version}) was not installed in production:\n{report.text()}"
    after = cluster.helm().history(suite.target.release, namespace)[-1]
    assert after["revision"] > before["revision"], (before, after)
    for component in ("api", "public"):
        resolved = stack.resolve(cluster, namespace, suite.target.component(component))
        pods = stack.ready_pods(cluster, namespace, resolved.selector)
        running = sorted({c.image for p in pods for c in p.spec.containers})
        # each pod runs the release in one of its containers (a group's sidecar keeps its own image)
        assert pods and all(any(release.has_tag(c.image, version) for c in p.spec.containers) for p in pods), (
            f"production's {component} pods should run the release ({version}), found {running}"
        )
    answer = access.wait_http(
        "production after the release", lambda: site.request("GET", "/", scheme="https"), timeout=timeouts.HTTP_READY
    )
    assert answer.status == 200, answer


def record_release(record_property, report: release.ReleaseReport) -> None:
    """Each step (a failed one with the tail of its output) and the images staging ran, in the report."""
    record_property("release_steps", [(name, ok, "" if ok else detail[-3000:]) for name, ok, detail in report.steps])
    record_property("staging_images", sorted(report.staging_images))


def staging_of(namespace: str) -> str:
    return f"{namespace}-staging"[:63]


def release_workflow(suite, cluster, namespace: str, values, tag: str) -> release.ReleaseWorkflow:
    """`kubedefis release` of the images tagged `tag`, from the namespace's stage to production."""
    plan = release.ReleasePlan(
        chart=suite.chart,
        values=values,
        image_tag=tag,
        staging=staging_of(namespace),
        production=namespace,
        release_name=suite.target.release,
        kubeconfig=cluster.kubeconfig,
        context=cluster.kube.context,
        suite=release.DEFAULT_SUITE,
        helm_timeout=150,
        size="small",
    )
    return release.ReleaseWorkflow(plan, cluster.kube, cluster.helm(), cluster.kubectl_command(), Status())


@pytest.mark.needs("list", "secrets")
@pytest.mark.requirement("D19.6", "production refuses anonymous writes to the API and accepts authenticated ones")
def test_writes_need_credentials(suite, site, api_token, record_property):
    contract = suite.target.site  # its write: ours on our site, else only the one the target names
    if not contract.knows("api_write"):
        pytest.skip(contract.unknown("api_write", "api_write_body") + ": no write endpoint to try")
    if api_token is None:
        if suite.target.deployed:
            pytest.skip("the target names no credentials (api_token_secret): an authenticated write cannot be tried")
        pytest.fail("our stack has no Secret holding KUBEDEFIS_API_TOKEN: the chart must create one")
    write, method, path = contract.api_write, contract.write_method, contract.write_path

    def body() -> str:
        return contract.write_body()[0]

    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    # several anonymous tries, each with a body that would be accepted: none may be (a partial
    # gate, open on one api pod of three, is caught by trying more than once per pod)
    # over HTTPS: production redirects plain HTTP (D19.3), a redirect is neither a refusal nor a write
    anonymous = [
        site.anonymous().request(method, path, body=body(), headers=headers, scheme="https").status for _ in range(6)
    ]
    authenticated = site.request(method, path, body=body(), headers=headers, scheme="https")
    record_property("anonymous_statuses", anonymous)
    record_property("authenticated_status", authenticated.status)
    assert all(status in (401, 403) for status in anonymous), f"anonymous {write}: HTTP {anonymous}"
    assert 200 <= authenticated.status < 300, (
        f"{write} with the token: HTTP {authenticated.status} {authenticated.text[:300]}"
    )
