"""Infrastructure diagrams from plain dict objects: the nodes, the edges, and a real `dot` render."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from kubedefis.commands import cli
from kubedefis.core import paths
from kubedefis.diagram import netpol, render
from kubedefis.diagram.infra import render_objects

Obj = dict[str, Any]
POLICY_COLOUR = "#c62828"


def deployment(name: str, replicas: int = 1, env: list[Obj] | None = None, **pod: Any) -> Obj:
    container = {
        "name": name,
        "image": f"kubedefis/{name}:1",
        "ports": [{"name": "http", "containerPort": 8000}],
        "env": env or [],
        "resources": {
            "requests": {"cpu": "100m", "memory": "100Mi"},
            "limits": {"cpu": "200m", "memory": "200Mi"},
        },
    }
    container.update(pod.pop("container", {}))
    return {
        "apiVersion": "apps/v1",
        "kind": pod.pop("kind", "Deployment"),
        "metadata": {"name": name, "namespace": "u-42"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, **pod.pop("labels", {})}},
                "spec": {"containers": [container], **pod},
            },
        },
    }


def service(name: str, selector: dict[str, str], port: int = 80, **spec: Any) -> Obj:
    return {
        "kind": "Service",
        "metadata": {"name": name, "namespace": "u-42"},
        "spec": {"selector": selector, "ports": [{"port": port, "targetPort": "http"}], **spec},
    }


def stack() -> list[Obj]:
    """The défi 11 shape: site (public, api) + PostgreSQL, Ingress, HPA, NetworkPolicy, a replica."""
    db_env = [
        {"name": "POSTGRES_HOST", "value": "postgresql"},
        {"name": "POSTGRES_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
    ]
    return [
        deployment(
            "public",
            3,
            db_env,
            container={"envFrom": [{"configMapRef": {"name": "site-config"}}]},
            volumes=[{"name": "uploads", "persistentVolumeClaim": {"claimName": "uploads"}}],
        ),
        deployment("api", 2, db_env),
        deployment("postgresql", 1, kind="StatefulSet", labels={"app.kubernetes.io/component": "database"}),
        deployment(
            "postgresql-replica",
            1,
            [{"name": "PRIMARY_HOST", "value": "postgresql"}],
            kind="StatefulSet",
            labels={"app.kubernetes.io/component": "database-replica"},
        ),
        service("public", {"app": "public"}),
        service("api", {"app": "api"}, type="NodePort", ports=[{"port": 80, "targetPort": "http", "nodePort": 30080}]),
        service("postgresql", {"app": "postgresql"}, 5432),
        service("postgresql-headless", {"app": "postgresql"}, 5432, clusterIP="None"),
        {
            "kind": "Ingress",
            "metadata": {"name": "site", "namespace": "u-42"},
            "spec": {
                "ingressClassName": "nginx",
                "tls": [{"hosts": ["site.local"], "secretName": "site-tls"}],
                "rules": [
                    {
                        "host": "site.local",
                        "http": {
                            "paths": [
                                {"path": "/", "backend": {"service": {"name": "public", "port": {"number": 80}}}},
                                {"path": "/api", "backend": {"service": {"name": "api", "port": {"name": "http"}}}},
                                {"path": "/old", "backend": {"service": {"name": "ghost", "port": {"number": 80}}}},
                            ]
                        },
                    }
                ],
            },
        },
        {
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "uploads", "namespace": "u-42"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "local-path",
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
        {
            "kind": "NetworkPolicy",
            "metadata": {"name": "db-from-api", "namespace": "u-42"},
            "spec": {
                "podSelector": {"matchLabels": {"app.kubernetes.io/component": "database"}},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "api"}}}], "ports": [{"port": 5432}]}],
            },
        },
        {
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "api", "namespace": "u-42"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
                "minReplicas": 2,
                "maxReplicas": 5,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"averageUtilization": 50}}}],
            },
        },
        {"kind": "ConfigMap", "metadata": {"name": "site-config"}, "data": {"DEBUG": "0", "LOG_LEVEL": "info"}},
        {"kind": "Secret", "metadata": {"name": "db"}, "type": "Opaque", "data": {"password": "c2VjcmV0LXZhbHVl"}},
        {
            "kind": "CronJob",
            "metadata": {"name": "backup", "namespace": "u-42"},
            "spec": {
                "schedule": "0 3 * * *",
                "jobTemplate": {
                    "spec": {
                        "template": {
                            "metadata": {"labels": {"app": "backup"}},
                            "spec": {"containers": [{"name": "dump", "image": "postgres:16", "env": db_env[:1]}]},
                        }
                    }
                },
            },
        },
    ]


def edges(dot_source: str) -> list[tuple[str, str, dict[str, str]]]:
    found = []
    for tail, head, attrs in re.findall(r'^\s*"(.+?)" -> "(.+?)"(?: \[(.*)\])?;$', dot_source, re.MULTILINE):
        found.append((tail, head, dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', attrs))))
    return found


def node_ids(dot_source: str) -> set[str]:
    return set(re.findall(r'^\s*"([^"]+)" \[', dot_source, re.MULTILINE))


@pytest.fixture(scope="module")
def dot_source() -> str:
    return render_objects(stack(), "u-42")


def test_every_kind_gets_its_node(dot_source: str) -> None:
    nodes = node_ids(dot_source)
    for expected in (
        "user",
        "IngressController/nginx",
        "Ingress/site",
        "Service/public",
        "Service/api",
        "Service/postgresql-headless",
        "PersistentVolumeClaim/uploads",
        "HorizontalPodAutoscaler/api",
        "NetworkPolicy/db-from-api",
        "ConfigMap/site-config",
        "Secret/db",
        "Secret/site-tls",
        "Deployment/public/pod-0",
        "StatefulSet/postgresql/pod-0",
        "CronJob/backup/pod",
        "missing/Service/ghost",
    ):
        assert expected in nodes, expected
    assert "Deployment/public/pod-2" in nodes and "Deployment/public/pod-3" not in nodes  # 3 replicas drawn


def test_workloads_are_boxes_with_their_facts(dot_source: str) -> None:
    box = re.search(r'subgraph "cluster_Deployment_public" \{(.*?)\n  \}', dot_source, re.DOTALL)
    assert box is not None
    assert "3 replicas" in box.group(1)
    assert "requests cpu 100m mem 100Mi · limits cpu 200m mem 200Mi" in box.group(1)
    assert '{rank=same; "Deployment/public/pod-0" "Deployment/public/pod-1" "Deployment/public/pod-2"}' in box.group(1)
    assert "postgresql-0" in dot_source  # a StatefulSet's pods are drawn with the names they will get
    assert "schedule 0 3 * * *" in dot_source
    assert "NodePort" in dot_source and "80→http (node 30080)" in dot_source and "headless" in dot_source


def test_the_path_from_the_internet_to_the_pods(dot_source: str) -> None:
    pairs = {(t, h): a for t, h, a in edges(dot_source)}
    assert ("user", "IngressController/nginx") in pairs
    assert ("IngressController/nginx", "Ingress/site") in pairs
    assert pairs[("Ingress/site", "Service/public")]["label"] == "site.local/ → :80"
    assert pairs[("Ingress/site", "Service/api")]["label"] == "site.local/api → :http"
    assert ("Ingress/site", "missing/Service/ghost") in pairs
    assert pairs[("user", "Service/api")]["label"] == "NodePort 30080"
    assert pairs[("Service/api", "Deployment/api/pod-0")]["lhead"] == "cluster_Deployment_api"
    assert pairs[("Service/postgresql", "StatefulSet/postgresql/pod-0")]["lhead"] == "cluster_StatefulSet_postgresql"


def test_storage_config_and_scaling(dot_source: str) -> None:
    pairs = {(t, h): a for t, h, a in edges(dot_source)}
    uploads = pairs[("Deployment/public/pod-0", "PersistentVolumeClaim/uploads")]
    assert uploads["ltail"] == "cluster_Deployment_public" and uploads["label"] == "volume uploads"
    assert "1Gi · ReadWriteOnce" in dot_source and "StorageClass local-path" in dot_source
    assert pairs[("Deployment/public/pod-0", "ConfigMap/site-config")]["label"] == "envFrom"
    assert pairs[("Deployment/api/pod-0", "Secret/db")]["label"] == "env POSTGRES_PASSWORD"
    assert pairs[("Ingress/site", "Secret/site-tls")]["label"] == "TLS certificate"
    hpa = pairs[("HorizontalPodAutoscaler/api", "Deployment/api/pod-0")]
    assert hpa["label"] == "scales" and hpa["lhead"] == "cluster_Deployment_api"
    assert "2–5 replicas" in dot_source and "target cpu 50%" in dot_source


def test_secret_values_are_never_drawn(dot_source: str) -> None:
    assert "keys: password" in dot_source
    assert "c2VjcmV0LXZhbHVl" not in dot_source


def test_network_policy_arrows_come_only_from_allowed_pods(dot_source: str) -> None:
    reach = [(t, h, a) for t, h, a in edges(dot_source) if a.get("label", "").startswith("may reach")]
    assert [(a.get("ltail"), a.get("lhead"), a["label"]) for _, _, a in reach] == [
        ("cluster_Deployment_api", "cluster_StatefulSet_postgresql", "may reach · TCP 5432")
    ]
    note = [a for t, h, a in edges(dot_source) if t == "NetworkPolicy/db-from-api"]
    assert [a["lhead"] for a in note] == ["cluster_StatefulSet_postgresql"]
    assert "ingress: only the red dashed arrows, the rest is denied" in dot_source


def test_connections_and_replication_come_from_env(dot_source: str) -> None:
    pairs = {(t, h): a for t, h, a in edges(dot_source)}
    assert pairs[("Deployment/api/pod-0", "Service/postgresql")]["label"] == "POSTGRES_HOST"
    assert pairs[("CronJob/backup/pod", "Service/postgresql")]["label"] == "POSTGRES_HOST"
    streams = pairs[("StatefulSet/postgresql-replica/pod-0", "StatefulSet/postgresql/pod-0")]
    assert streams["label"] == "streams from (PRIMARY_HOST)"
    assert streams["ltail"] == "cluster_StatefulSet_postgresql-replica"
    assert ("StatefulSet/postgresql-replica/pod-0", "Service/postgresql") not in pairs  # not also a plain link


def test_no_entry_point_means_kubectl_access() -> None:
    defi1 = render_objects([deployment("web-nodb")], "défi 1")
    assert [(t, h, a["label"]) for t, h, a in edges(defi1)] == [
        ("user", "Deployment/web-nodb/pod-0", "kubectl port-forward")
    ]
    defi2 = render_objects([deployment("csc8567", 3), service("csc8567", {"app": "csc8567"})], "défi 2")
    labels = {(t, h): a.get("label") for t, h, a in edges(defi2)}
    assert labels[("user", "Service/csc8567")] == "kubectl proxy / port-forward"
    assert ("user", "Deployment/csc8567/pod-0") not in labels
    assert "you (kubectl)" in defi2


def test_a_service_that_selects_nothing_is_shown() -> None:
    source = render_objects([deployment("web"), service("web", {"app": "wbe"})], "typo")
    [(_, head, attrs)] = [e for e in edges(source) if e[0] == "Service/web"]
    assert head == "missing/Pod/no pod matches app=wbe" and attrs["color"] == POLICY_COLOUR


def test_live_pods_are_grouped_under_their_workload() -> None:
    sts = deployment("postgresql", 2, kind="StatefulSet")
    sts["status"] = {"replicas": 2, "readyReplicas": 1}
    dep = deployment("web", 1)
    pods = [
        {
            "kind": "Pod",
            "metadata": {
                "name": f"postgresql-{i}",
                "labels": {"app": "postgresql"},
                "ownerReferences": [{"kind": "StatefulSet", "name": "postgresql", "controller": True}],
            },
            "spec": {
                "nodeName": "kind-worker",
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": f"data-postgresql-{i}"}}],
            },
            "status": {"phase": "Running", "containerStatuses": [{"ready": i == 0, "restartCount": 2 * i}]},
        }
        for i in range(2)
    ]
    pods.append(
        {
            "kind": "Pod",
            "metadata": {
                "name": "web-5d8f-x1",
                "labels": {"app": "web", "pod-template-hash": "5d8f"},
                "ownerReferences": [{"kind": "ReplicaSet", "name": "web-5d8f", "controller": True}],
            },
            "status": {
                "phase": "Pending",
                "containerStatuses": [{"ready": False, "state": {"waiting": {"reason": "ImagePullBackOff"}}}],
            },
        }
    )
    claims = [
        {
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": f"data-postgresql-{i}"},
            "spec": {"volumeName": f"pv-{i}", "resources": {"requests": {"storage": "100Mi"}}},
            "status": {"phase": "Bound"},
        }
        for i in range(2)
    ]
    source = render_objects([sts, dep, *pods, *claims], "live")
    box = re.search(r'subgraph "cluster_StatefulSet_postgresql" \{(.*?)\n  \}', source, re.DOTALL)
    assert box is not None and '"Pod/postgresql-0"' in box.group(1) and '"Pod/postgresql-1"' in box.group(1)
    assert "2 replicas (1 ready)" in box.group(1)
    assert "Running · ready 0/1 · 2 restarts" in source and "Pending · ready 0/1 · ImagePullBackOff" in source
    web = re.search(r'subgraph "cluster_Deployment_web" \{(.*?)\n  \}', source, re.DOTALL)
    assert web is not None and '"Pod/web-5d8f-x1"' in web.group(1)
    pairs = {(t, h) for t, h, _ in edges(source)}
    assert ("Pod/postgresql-0", "PersistentVolumeClaim/data-postgresql-0") in pairs
    assert ("Pod/postgresql-1", "PersistentVolumeClaim/data-postgresql-1") in pairs
    assert "Bound → PV pv-1" in source


def test_policy_peers_outside_the_namespace() -> None:
    policy = {
        "metadata": {"name": "web"},
        "spec": {
            "podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]},
                {"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]},
            ],
        },
    }
    workloads = {("Deployment", "web"): {"app": "web"}, ("Deployment", "db"): {"app": "db"}}
    view = netpol.analyse(policy, workloads, "u-42")
    assert view.protected == [("Deployment", "web")]
    assert [r.source.text for r in view.reaches] == ["namespace ingress-nginx", "10.0.0.0/8 except 10.1.0.0/16"]
    assert view.denies("egress") and not [r for r in view.reaches if r.direction == "egress"]
    source = render_objects([deployment("web"), {"kind": "NetworkPolicy", **policy}], "policies")
    assert "egress: everything denied" in source and "peer/cidr/10.0.0.0/8 except 10.1.0.0/16" in source


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_dot_renders_a_valid_svg(tmp_path: Path, dot_source: str) -> None:
    [svg] = render.write(dot_source, tmp_path / "u-42", ["svg"])
    text = svg.read_text()
    assert text.lstrip().startswith(("<?xml", "<svg")) and "</svg>" in text
    assert "site.local/api" in text  # the labels survive the layout


def run_diagram(argv: list[str]) -> int:
    """`kubedefis diagram ARGV` as the command line runs it; its exit code."""
    try:
        return cli.main(["diagram", *argv])
    except SystemExit as exc:  # usage errors leave through SystemExit, as argparse's do
        return int(exc.code or 0)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_the_command_draws_a_handin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prefix = tmp_path / "defi2"
    code = run_diagram(["--from-manifests", str(paths.REPO_ROOT / "defis/defi2"), "--output", str(prefix)])
    assert code == 0
    assert capsys.readouterr().out.split() == [str(prefix) + ".svg", str(prefix) + ".png"]
    assert "csc8567" in prefix.with_suffix(".svg").read_text()
    assert prefix.with_suffix(".png").read_bytes().startswith(b"\x89PNG")


def test_the_command_needs_a_namespace_or_manifests(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_diagram([]) == 2
    assert "give --namespace" in capsys.readouterr().err
    assert run_diagram(["--namespace", "u-1", "--from-manifests", "x"]) == 2
