"""Which container of a database pod is PostgreSQL: found from the pod, never our chart's name.

Each group names its database container as it likes (`db`, `postgres`, `bdd`...). On the old code
every Node was built with our chart's container name (`postgresql`), so every check below that
expects another name failed there (and `postgres_container`, `pod_node` did not exist).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes import client

from kubedefis.core.errors import KubedefisError
from kubedefis.stack import database as pg
from kubedefis.stack import dbops


def container(name: str, image: str, *, ports: tuple[int, ...] = (), args: list[str] | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"name": name, "image": image}
    if ports:
        found["ports"] = [{"containerPort": p} for p in ports]
    if args:
        found["args"] = args
    return found


def spec(*containers: dict[str, Any]) -> dict[str, Any]:
    return {"containers": list(containers)}


def test_our_chart_container():
    assert pg.postgres_container(spec(container("postgresql", "kubedefis/postgres:1", ports=(5432,)))) == "postgresql"


def test_the_student_stack_bdd_container_on_its_own_port():
    """tests/harness/studentstack: StatefulSet `bdd`, container `postgres`, PostgreSQL on 5433."""
    bdd = container("postgres", "kubedefis/postgres:0.1.0", ports=(5433,), args=["-c", "shared_buffers=32MB"])
    assert pg.postgres_container(spec(bdd), 5433) == "postgres"


def test_an_exporter_sidecar_naming_postgres_too():
    db = container("db", "postgres:16", ports=(5432,))
    exporter = container("metrics", "quay.io/prometheuscommunity/postgres-exporter:v0.15", ports=(9187,))
    assert pg.postgres_container(spec(exporter, db)) == "db"
    # The database declaring no port: the sidecar declares its own, so it is not the database.
    quiet = container("db", "postgres:16")
    assert pg.postgres_container(spec(exporter, quiet)) == "db"


def test_the_database_port_when_nothing_names_postgres():
    db = container("bdd", "registry.example/groupe7/base:3", ports=(5433,))
    logs = container("logs", "busybox:1.36")
    assert pg.postgres_container(spec(logs, db), 5433) == "bdd"


def test_the_command_names_postgres():
    db = {"name": "sgbd", "image": "debian:trixie", "command": ["/usr/lib/postgresql/17/bin/postgres", "-D", "/d"]}
    assert pg.postgres_container(spec(container("logs", "busybox:1.36"), db)) == "sgbd"


def test_the_only_container_whatever_it_is():
    assert pg.postgres_container(spec(container("database", "registry.example/db:1"))) == "database"


def test_no_port_given_means_postgresql_s_own():
    db = container("db", "registry.example/db:1", ports=(5432,))
    assert pg.postgres_container(spec(container("logs", "busybox"), db), None) == "db"


def test_several_or_none_fitting_is_an_error_naming_the_containers():
    with pytest.raises(KubedefisError, match=r"several containers of pod bdd-0 .*\ba \(.*\bb \("):
        pg.postgres_container(
            spec(container("a", "postgres:16", ports=(5432,)), container("b", "postgres:15", ports=(5432,))),
            pod="pod bdd-0",
        )
    with pytest.raises(KubedefisError, match=r"no container of pod x names postgres .*port 5432.*web .*logs"):
        pg.postgres_container(spec(container("web", "nginx"), container("logs", "busybox")), pod="pod x")
    with pytest.raises(KubedefisError, match="no container"):
        pg.postgres_container({"containers": []})


def v1pod(name: str, *containers: client.V1Container) -> client.V1Pod:
    return client.V1Pod(metadata=client.V1ObjectMeta(name=name), spec=client.V1PodSpec(containers=list(containers)))


BDD = v1pod(
    "bdd-0",
    client.V1Container(
        name="postgres", image="kubedefis/postgres:0.1.0", ports=[client.V1ContainerPort(container_port=5433)]
    ),
    client.V1Container(
        name="exporter", image="postgres-exporter:1", ports=[client.V1ContainerPort(container_port=9187)]
    ),
)


class FakeCore:
    def __init__(self, pod: client.V1Pod) -> None:
        self.pod = pod
        self.reads: list[tuple[str, str]] = []

    def read_namespaced_pod(self, name: str, namespace: str) -> client.V1Pod:
        self.reads.append((name, namespace))
        return self.pod


def test_node_finds_the_container_from_the_pod_read_by_name():
    core = FakeCore(BDD)
    cluster = SimpleNamespace(kube=SimpleNamespace(core=core), kubectl_command=lambda: ["kubectl", "--context", "c"])
    node = pg.node(cluster, "u-garagiste", "bdd-0", port=5433)
    assert node == pg.Node(("kubectl", "--context", "c"), "u-garagiste", "bdd-0", "postgres")
    assert core.reads == [("bdd-0", "u-garagiste")]


def test_node_from_the_pod_itself_reads_nothing():
    core = FakeCore(BDD)
    cluster = SimpleNamespace(kube=SimpleNamespace(core=core), kubectl_command=lambda: ["kubectl"])
    assert pg.node(cluster, "ns", BDD, port=5433).container == "postgres"
    as_dict = {"metadata": {"name": "bdd-0"}, "spec": {"containers": [container("bdd", "postgres:16")]}}
    assert pg.node(cluster, "ns", as_dict).container == "bdd"
    assert core.reads == []


def test_the_db_command_s_nodes_too():
    pod = v1pod(
        "db-0",
        client.V1Container(name="db", image="postgres:16", ports=[client.V1ContainerPort(container_port=5432)]),
        client.V1Container(name="metrics", image="postgres-exporter:1"),
    )
    db = dbops.Database(SimpleNamespace(core=FakeCore(pod)), ("kubectl",), "u-42", "projet")  # type: ignore[arg-type]
    assert db.node("db-0").container == "db"
    assert db.node(pod) == pg.Node(("kubectl",), "u-42", "db-0", "db")


def test_a_wrong_database_port_says_which_key_to_set():
    """Both name postgres, neither declares 5432: the message points at the target's database_port."""
    db = container("postgres", "kubedefis/postgres:0.1.0", ports=(5433,))
    exporter = container("exporter", "postgres-exporter:1", ports=(9187,))
    with pytest.raises(KubedefisError, match=r"postgres \(.*exporter \(.*database_port"):
        pg.postgres_container(spec(db, exporter))
    assert pg.postgres_container(spec(db, exporter), 5433) == "postgres"


def test_a_node_always_names_its_container():
    """No default container any more: our chart's name cannot slip in unnoticed."""
    with pytest.raises(TypeError):
        pg.Node(("kubectl",), "ns", "pod")  # type: ignore[call-arg]


def test_a_group_s_database_pod_is_reached_in_its_own_container():
    """The call the conformance modules made before (a pod name, no port): the old code answered our chart's
    container name, `postgresql`, which a group's pod does not have."""
    pod = v1pod("db-0", client.V1Container(name="db", image="postgres:16"))
    cluster = SimpleNamespace(kube=SimpleNamespace(core=FakeCore(pod)), kubectl_command=lambda: ["kubectl"])
    assert pg.node(cluster, "u-42", "db-0").container == "db"
