"""Défi 7 — Connexions moins dangereuses : PostgreSQL as a one-replica StatefulSet with a 100Mi volume and a
headless Service; the data survives the deletion of the database pod."""

from __future__ import annotations

import pytest

from kubedefis import kube
from kubedefis.harness import checks, site, stack, timeouts
from kubedefis.waits import Check, wait_for

PRESET = "defi7"
SIZE = "100Mi"


@pytest.fixture(scope="module")
def database(suite, cluster, namespace):
    stack.install_chart(cluster, suite, namespace, PRESET)
    db = stack.wait_component(cluster, namespace, suite.target.component("database"), timeouts.DATABASE_READY)
    stack.wait_component(cluster, namespace, suite.target.component("api"))
    return db


@pytest.fixture(scope="module")
def api(suite, cluster, namespace, database):
    """The API through a port-forward to its Service (the Ingress is défi 4's business)."""
    from kubedefis.harness import access

    resolved = stack.resolve(cluster, namespace, suite.target.component("api"))
    port = resolved.service().spec.ports[0].port
    with access.port_forward(
        cluster.kubectl_command(), namespace, f"service/{resolved.service().metadata.name}", port, timeouts.PROXY_START
    ) as local:
        yield site.SiteClient(site.proxy_request(f"http://127.0.0.1:{local}"))


@pytest.mark.requirement("D7.1", "PostgreSQL is a StatefulSet with exactly one replica")
def test_database_is_a_one_replica_statefulset(cluster, namespace, database):
    assert database.kind == "StatefulSet", f"expected a StatefulSet, found {database.kind}/{database.name}"
    sts = cluster.kube.apps.read_namespaced_stateful_set(database.name, namespace)
    checks.require("D7.1 replicas", checks.replicas(checks.live(sts), 1))


@pytest.mark.requirement("D7.2", "its data lives on a bound 100Mi PersistentVolumeClaim from volumeClaimTemplates")
def test_database_volume_is_a_bound_100mi_claim(cluster, namespace, database):
    sts = cluster.kube.apps.read_namespaced_stateful_set(database.name, namespace)
    templates = sts.spec.volume_claim_templates or []
    assert templates, "the StatefulSet has no volumeClaimTemplates"
    claim_name = f"{templates[0].metadata.name}-{database.name}-0"
    pvc = cluster.kube.core.read_namespaced_persistent_volume_claim(claim_name, namespace)
    assert pvc.status.phase == "Bound", f"{claim_name} is {pvc.status.phase}"
    requested = checks.quantity(pvc.spec.resources.requests.get("storage"))
    assert requested == checks.quantity(SIZE), f"{claim_name} requests {requested} bytes, expected {SIZE}"
    mounts = {m.name for c in sts.spec.template.spec.containers for m in c.volume_mounts or []}
    assert templates[0].metadata.name in mounts, "the claim is not mounted in the database container"


@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement("D7.3", "a headless Service gives the pod a stable DNS name that resolves in the cluster")
def test_headless_service_resolves_pod_name(cluster, namespace, database, suite):
    headless = database.service(headless=True)
    assert headless.spec.cluster_ip == "None"
    name = f"{database.name}-0.{headless.metadata.name}"
    api = stack.resolve(cluster, namespace, suite.target.component("api"))
    pod = stack.running_pods(cluster, namespace, api.selector)[0].metadata.name
    script = f"import socket; print(socket.gethostbyname({name!r}))"
    address = stack.exec_in(cluster, namespace, pod, "python3", "-c", script).strip()
    db_pod = cluster.kube.core.read_namespaced_pod(f"{database.name}-0", namespace)
    assert address == db_pod.status.pod_ip, f"{name} resolves to {address}, the pod's IP is {db_pod.status.pod_ip}"


@pytest.mark.disruptive
@pytest.mark.needs("delete", "pods")
@pytest.mark.needs("create", "pods/portforward")
@pytest.mark.requirement("D7.4", "rows written survive the deletion of the database pod")
def test_rows_survive_database_pod_deletion(suite, cluster, namespace, database, api):
    if not suite.allow_disruption:
        pytest.skip("deletes the database pod: needs --allow-disruption")
    garage = api.create_garage()
    cars = [api.create_car(garage["id"]) for _ in range(3)]
    before = api.stats()
    pod = f"{database.name}-0"
    old_uid = cluster.kube.core.read_namespaced_pod(pod, namespace).metadata.uid
    cluster.kube.core.delete_namespaced_pod(pod, namespace)

    def replaced_and_ready() -> Check[None]:
        p = cluster.kube.core.read_namespaced_pod(pod, namespace)
        fresh = p.metadata.uid != old_uid
        return Check(fresh and stack.ready(p), state=f"new pod: {fresh}, ready: {stack.ready(p)}")

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
