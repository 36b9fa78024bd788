"""Défi 7 — Connexions moins dangereuses : PostgreSQL as a one-replica StatefulSet with a 100Mi volume and a
headless Service; the data survives the deletion of the database pod."""

from __future__ import annotations

import base64

import pytest
from kubernetes.client.exceptions import ApiException

from kubedefis.core import kube, manifests, timeouts
from kubedefis.core.waits import Check, wait_for
from kubedefis.harness import access, checks, site
from kubedefis.harness import stage as stack

LANE = "light"  # a light stage: beside the others (see harness.plugin.lane_of)
PRESET = "defi7"
SIZE = "small"  # checks neither replica counts nor requests
CLAIM_SIZE = "100Mi"


@pytest.fixture(scope="module")
def database(suite, cluster, namespace, stage):
    db = stack.wait_component(cluster, namespace, suite.target.component("database"), timeouts.DATABASE_READY)
    stack.wait_component(cluster, namespace, suite.target.component("api"))
    return db


@pytest.fixture(scope="module")
def api(suite, cluster, namespace, database, api_token):
    """The API through a port-forward to its Service (the Ingress is défi 4's business)."""
    resolved = stack.resolve(cluster, namespace, suite.target.component("api"))
    port = resolved.service().spec.ports[0].port
    with access.port_forward(
        cluster.kubectl_command(), namespace, f"service/{resolved.service().metadata.name}", port, timeouts.PROXY_START
    ) as local:
        yield site.SiteClient(site.proxy_request(f"http://127.0.0.1:{local}", api_token))


@pytest.mark.requirement("D7.1", "PostgreSQL is a StatefulSet with exactly one replica")
def test_database_is_a_one_replica_statefulset(cluster, namespace, database):
    assert database.kind == "StatefulSet", f"expected a StatefulSet, found {database.kind}/{database.name}"
    sts = cluster.kube.apps.read_namespaced_stateful_set(database.name, namespace)
    checks.require("D7.1 replicas", checks.replicas(manifests.live(sts), 1))


@pytest.mark.requirement("D7.2", "its data lives on a bound 100Mi PersistentVolumeClaim from volumeClaimTemplates")
def test_database_volume_is_a_bound_100mi_claim(cluster, namespace, database):
    sts = cluster.kube.apps.read_namespaced_stateful_set(database.name, namespace)
    templates = sts.spec.volume_claim_templates or []
    assert templates, "the StatefulSet has no volumeClaimTemplates"
    claim_name = f"{templates[0].metadata.name}-{database.name}-0"
    pvc = cluster.kube.core.read_namespaced_persistent_volume_claim(claim_name, namespace)
    assert pvc.status.phase == "Bound", f"{claim_name} is {pvc.status.phase}"
    requested = manifests.quantity(pvc.spec.resources.requests.get("storage"))
    assert requested == manifests.quantity(CLAIM_SIZE), (
        f"{claim_name} requests {requested} bytes, expected {CLAIM_SIZE}"
    )
    mounts = {m.name for c in sts.spec.template.spec.containers for m in c.volume_mounts or []}
    assert templates[0].metadata.name in mounts, "the claim is not mounted in the database container"


def _uses_headless(target, obj, headless: str, namespace: str | None, configmap, secret) -> list[checks.Finding]:
    """Every container of a workload or pod that names a database host names it through the headless Service."""
    env = target.database_env["host"]
    findings = []
    hosts = {c.get("name"): checks.env_value(c, env, configmap, secret) for c in manifests.containers(obj)}
    if not any(hosts.values()):
        where = manifests.name_of(obj)
        findings.append(checks.Finding(where, f"{env} (the target's database_env.host) set in its containers", "none"))
    for container, host in hosts.items():
        if host and not checks.names_service(host, headless, namespace):
            where = f"{manifests.name_of(obj)} container {container}"
            findings.append(checks.Finding(where, f"{env} naming the headless Service {headless}", host))
    return findings


def _secret_data(secret: dict) -> dict[str, str]:
    """A Secret's values as text (data decoded, stringData as is)."""
    data = {k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.get("data") or {}).items()}
    return {**data, **{k: str(v) for k, v in (secret.get("stringData") or {}).items()}}


# --- static tier: the chart rendered with the défi's values ----------------------------------------


def _rendered_database(suite, rendered) -> dict:
    found = [
        o
        for o in rendered
        if o.get("kind") in ("Deployment", "StatefulSet")
        and suite.target.component_of(o["metadata"]["name"], manifests.pod_labels(o), ("database",))
    ]
    assert len(found) == 1, (
        f"expected one database workload in the chart, found {[manifests.name_of(o) for o in found]}"
    )
    return found[0]


@pytest.mark.static
@pytest.mark.requirement("D7.1", "the chart makes PostgreSQL a StatefulSet with exactly one replica")
def test_rendered_database_is_a_one_replica_statefulset(suite, rendered):
    db = _rendered_database(suite, rendered)
    assert db["kind"] == "StatefulSet", f"expected a StatefulSet, found {manifests.name_of(db)}"
    checks.require("D7.1 replicas", checks.replicas(db, 1))


@pytest.mark.static
@pytest.mark.requirement("D7.2", "the chart gives it a 100Mi claim from volumeClaimTemplates, mounted by PostgreSQL")
def test_rendered_database_claims_100mi(suite, rendered):
    db = _rendered_database(suite, rendered)
    templates = db.get("spec", {}).get("volumeClaimTemplates") or []
    assert templates, f"{manifests.name_of(db)} has no volumeClaimTemplates"
    claim = templates[0]
    size = (((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")
    assert manifests.quantity(size) == manifests.quantity(CLAIM_SIZE), (
        f"the claim requests {size}, expected {CLAIM_SIZE}"
    )
    mounts = {m["name"] for c in manifests.containers(db) for m in c.get("volumeMounts") or []}
    assert claim["metadata"]["name"] in mounts, (
        f"the claim {claim['metadata']['name']} is not mounted ({sorted(mounts)})"
    )


@pytest.mark.static
@pytest.mark.requirement(
    "D7.3", "the chart's headless Service governs the StatefulSet, and the site connects through it"
)
def test_rendered_headless_service_is_what_the_site_uses(suite, rendered):
    db = _rendered_database(suite, rendered)
    labels = manifests.pod_labels(db)
    headless = [
        s
        for s in manifests.find(rendered, "Service")
        if s["spec"].get("clusterIP") == "None" and manifests.selects(s["spec"].get("selector"), labels)
    ]
    assert headless, f"no headless Service (clusterIP: None) selects the pods of {manifests.name_of(db)}"
    names = [s["metadata"]["name"] for s in headless]
    governing = db["spec"].get("serviceName")
    assert governing in names, f"{manifests.name_of(db)}: serviceName {governing!r}, expected one of {names}"
    configmaps = {o["metadata"]["name"]: o.get("data") or {} for o in manifests.find(rendered, "ConfigMap")}
    secrets = {o["metadata"]["name"]: _secret_data(o) for o in manifests.find(rendered, "Secret")}
    findings = []
    for obj in rendered:
        if obj.get("kind") in ("Deployment", "StatefulSet") and suite.target.component_of(
            obj["metadata"]["name"], manifests.pod_labels(obj), ("api", "public")
        ):
            findings += _uses_headless(suite.target, obj, governing, None, configmaps.get, secrets.get)
    checks.require("D7.3 the site's database host", findings)


# --- live tier -----------------------------------------------------------------------------------


@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement("D7.3", "a headless Service gives the pod a stable DNS name that resolves in the cluster")
def test_headless_service_resolves_pod_name(cluster, namespace, database, suite):
    headless = database.service(headless=True)
    if database.kind == "StatefulSet":  # the pods' names live under the StatefulSet's governing Service
        governing = cluster.kube.apps.read_namespaced_stateful_set(database.name, namespace).spec.service_name
        named = [s for s in database.services if s.metadata.name == governing and s.spec.cluster_ip == "None"]
        assert named, (
            f"the StatefulSet's serviceName {governing!r} should be a headless Service selecting its pods; "
            f"found {[(s.metadata.name, s.spec.cluster_ip) for s in database.services]}"
        )
        headless = named[0]
    name = f"{database.name}-0.{headless.metadata.name}"
    api = stack.resolve(cluster, namespace, suite.target.component("api"))
    pod = stack.a_running_pod(cluster, namespace, api).metadata.name
    script = f"import socket; print(socket.gethostbyname({name!r}))"
    address = stack.exec_in(cluster, namespace, pod, "python3", "-c", script).strip()
    db_pod = cluster.kube.core.read_namespaced_pod(f"{database.name}-0", namespace)
    assert address == db_pod.status.pod_ip, f"{name} resolves to {address}, the pod's IP is {db_pod.status.pod_ip}"
    # and the site uses it: the api and public pods connect to the database through that Service

    def configmap(name: str) -> dict[str, str] | None:
        try:
            return cluster.kube.core.read_namespaced_config_map(name, namespace).data or {}
        except ApiException:
            return None

    def secret(name: str) -> dict[str, str] | None:  # read only if the credentials may (else: not known)
        try:
            return _secret_data(manifests.live(cluster.kube.core.read_namespaced_secret(name, namespace)))
        except ApiException:
            return None

    findings = []
    for component in ("api", "public"):
        resolved = stack.resolve(cluster, namespace, suite.target.component(component))
        pod = manifests.live(stack.a_running_pod(cluster, namespace, resolved))
        findings += _uses_headless(suite.target, pod, headless.metadata.name, namespace, configmap, secret)
    checks.require("D7.3 the site's database host", findings)


@pytest.mark.disruptive
@pytest.mark.needs("delete", "pods")
@pytest.mark.needs("create", "pods/portforward")
@pytest.mark.requirement("D7.4", "rows written survive the deletion of the database pod")
def test_rows_survive_database_pod_deletion(suite, cluster, namespace, database, api):
    garage = api.create_garage()
    cars = [api.create_car(garage["id"]) for _ in range(3)]
    before = api.stats()
    pod = f"{database.name}-0"
    old_uid = cluster.kube.core.read_namespaced_pod(pod, namespace).metadata.uid
    cluster.kube.core.delete_namespaced_pod(pod, namespace)

    def replaced_and_ready() -> Check[None]:
        p = cluster.kube.core.read_namespaced_pod(pod, namespace)
        fresh = p.metadata.uid != old_uid
        return Check(fresh and kube.pod_ready(p), state=f"new pod: {fresh}, ready: {kube.pod_ready(p)}")

    wait_for(
        f"{pod} to come back",
        replaced_and_ready,
        timeout=timeouts.DATABASE_READY,
        evidence=lambda: kube.evidence(cluster.kube, namespace, database.name),
    )
    stack.wait_component(cluster, namespace, suite.target.component("api"))

    def readable() -> Check[dict]:
        return Check(True, api.stats())

    after = wait_for("the API to read the database again", readable, timeout=timeouts.HTTP_READY)
    assert after == before, f"row counts changed across the restart: before {before}, after {after}"
    for car in cars:
        assert api.car(car["id"])["plate"] == car["plate"]
