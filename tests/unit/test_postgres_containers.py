"""D12.3 / D13.4 on a group's replicas: the replication probes are asked of PostgreSQL's container, not of a
sidecar beside it; and of every container when which one runs PostgreSQL cannot be told."""

from __future__ import annotations

from kubedefis.stack.database import postgres_containers


def replica(*containers: dict) -> dict:
    return {
        "kind": "StatefulSet",
        "metadata": {"name": "pg-replica"},
        "spec": {"template": {"spec": {"containers": list(containers)}}},
    }


POSTGRES = {"name": "db", "image": "postgres:16", "ports": [{"containerPort": 5433}]}
EXPORTER = {
    "name": "metrics",
    "image": "quay.io/prometheuscommunity/postgres-exporter",
    "ports": [{"containerPort": 9187}],
}
SIDECAR = {"name": "sidecar", "image": "busybox"}


def test_a_sidecar_beside_postgresql_is_left_out() -> None:
    assert [c["name"] for c in postgres_containers(replica(POSTGRES, EXPORTER), 5433)] == ["db"]
    assert [c["name"] for c in postgres_containers(replica(EXPORTER, POSTGRES), 5433)] == ["db"]


def test_every_container_when_postgresql_cannot_be_told() -> None:
    plain = {"name": "a", "image": "registry/replica:1"}
    assert [c["name"] for c in postgres_containers(replica(plain, SIDECAR))] == ["a", "sidecar"]
    assert [c["name"] for c in postgres_containers(replica(plain))] == ["a"]
