"""Reading a namespace for the diagram, against a fake API: Secrets lose their values, the controller is found."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubedefis.diagram import live
from kubedefis.diagram.infra import render_objects

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


class FakeApi:
    """list_* methods answering from a table: {method: {namespace or None: [models]}}; some forbidden."""

    def __init__(self, table: dict[str, dict[str | None, list[Any]]], forbidden: tuple[str, ...] = ()) -> None:
        self.table = table
        self.forbidden = forbidden

    def __getattr__(self, method: str) -> Any:
        def call(namespace: str | None = None, **_: Any) -> Any:
            if method in self.forbidden:
                raise ApiException(status=403, reason="Forbidden")
            return SimpleNamespace(items=self.table.get(method, {}).get(namespace, []))

        return call


def meta(name: str, namespace: str | None = None, **extra: Any) -> client.V1ObjectMeta:
    return client.V1ObjectMeta(name=name, namespace=namespace, **extra)


def controller_pod(name: str, namespace: str, owner: tuple[str, str], labels: dict[str, str]) -> client.V1Pod:
    return client.V1Pod(
        metadata=meta(
            name,
            namespace,
            labels=labels,
            owner_references=[
                client.V1OwnerReference(api_version="apps/v1", kind=owner[0], name=owner[1], uid="u", controller=True)
            ],
        ),
        status=client.V1PodStatus(phase="Running"),
    )


@pytest.fixture
def fake_kube(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    secret = client.V1Secret(
        metadata=meta("db", "u-42", annotations={LAST_APPLIED: '{"data":{"password":"c2VjcmV0"}}'}),
        data={"password": "c2VjcmV0"},
        type="Opaque",
    )
    ingress = client.V1Ingress(
        metadata=meta("site", "u-42"),
        spec=client.V1IngressSpec(
            ingress_class_name="nginx",
            rules=[
                client.V1IngressRule(
                    host="site.local",
                    http=client.V1HTTPIngressRuleValue(
                        paths=[
                            client.V1HTTPIngressPath(
                                path="/",
                                path_type="Prefix",
                                backend=client.V1IngressBackend(
                                    service=client.V1IngressServiceBackend(
                                        name="public", port=client.V1ServiceBackendPort(number=80)
                                    )
                                ),
                            )
                        ]
                    ),
                )
            ],
        ),
    )
    nginx = client.V1IngressClass(
        metadata=meta("nginx"), spec=client.V1IngressClassSpec(controller="k8s.io/ingress-nginx")
    )
    pods = {
        "u-42": [],
        "ingress-nginx": [
            controller_pod(
                "ingress-nginx-controller-5d88-abcde",
                "ingress-nginx",
                ("ReplicaSet", "ingress-nginx-controller-5d88"),
                {
                    "app.kubernetes.io/name": "ingress-nginx",
                    "app.kubernetes.io/component": "controller",
                    "pod-template-hash": "5d88",
                },
            ),
            controller_pod(
                "ingress-nginx-admission-create-x",
                "ingress-nginx",
                ("Job", "ingress-nginx-admission-create"),
                {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "admission-webhook"},
            ),
        ],
        "kube-system": [
            controller_pod("coredns-1", "kube-system", ("ReplicaSet", "coredns-7d"), {"k8s-app": "kube-dns"}),
        ],
    }
    networking = FakeApi(
        {"list_namespaced_ingress": {"u-42": [ingress]}, "list_ingress_class": {None: [nginx]}},
        forbidden=("list_namespaced_network_policy",),
    )
    kube = SimpleNamespace(
        core=FakeApi({"list_namespaced_secret": {"u-42": [secret]}, "list_namespaced_pod": pods}),
        apps=FakeApi({}),
        batch=FakeApi({}),
        networking=networking,
        autoscaling=FakeApi({}),
        custom=SimpleNamespace(list_namespaced_custom_object=lambda *args, **kwargs: {"items": []}),  # no KubeVirt
    )
    monkeypatch.setattr(live, "_cluster_scoped", lambda k: [("IngressClass", k.networking.list_ingress_class)])
    return kube


def test_secrets_keep_their_key_names_only(fake_kube: SimpleNamespace) -> None:
    objects, _ = live.read_namespace(fake_kube, "u-42")
    [secret] = [o for o in objects if o["kind"] == "Secret"]
    assert secret["data"] == {"password": ""}
    assert LAST_APPLIED not in (secret["metadata"].get("annotations") or {})
    assert "c2VjcmV0" not in repr(objects)


def test_a_forbidden_kind_becomes_a_note(fake_kube: SimpleNamespace) -> None:
    _, notes = live.read_namespace(fake_kube, "u-42")
    assert notes == ["NetworkPolicy not readable (403 Forbidden)"]


def test_the_ingress_controller_pods_are_found_by_class(fake_kube: SimpleNamespace) -> None:
    objects, notes = live.read_namespace(fake_kube, "u-42")
    [controller] = [o for o in objects if o["kind"] == "IngressController"]
    assert controller["metadata"] == {"name": "ingress-nginx-controller", "namespace": "ingress-nginx"}
    assert controller["spec"]["classes"] == ["nginx"] and controller["spec"]["controller"] == "k8s.io/ingress-nginx"
    assert [p["name"] for p in controller["spec"]["pods"]] == ["ingress-nginx-controller-5d88-abcde"]
    source = render_objects(objects, "u-42", notes)
    assert '"controller-pod/ingress-nginx-controller-5d88-abcde" -> "Ingress/site"' in source
    assert "NetworkPolicy not readable (403 Forbidden)" in source
    assert 'subgraph "cluster_namespace"' in source and "u-42" in source


def test_rke2_and_traefik_controllers_are_recognised() -> None:
    rke2 = controller_pod(
        "rke2-ingress-nginx-controller-abcde",
        "kube-system",
        ("DaemonSet", "rke2-ingress-nginx-controller"),
        {"app.kubernetes.io/name": "rke2-ingress-nginx", "app.kubernetes.io/component": "controller"},
    )
    traefik = controller_pod(
        "traefik-6b9-xyz",
        "traefik",
        ("ReplicaSet", "traefik-6b9"),
        {"app.kubernetes.io/name": "traefik", "pod-template-hash": "6b9"},
    )
    kube = SimpleNamespace(core=FakeApi({"list_namespaced_pod": {"kube-system": [rke2], "traefik": [traefik]}}))
    classes = [
        {"kind": "IngressClass", "metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}},
        {
            "kind": "IngressClass",
            "metadata": {"name": "traefik"},
            "spec": {"controller": "traefik.io/ingress-controller"},
        },
    ]
    found = {c["metadata"]["name"]: c["spec"]["classes"] for c in live.ingress_controllers(kube, classes)}
    assert found == {"rke2-ingress-nginx-controller": ["nginx"], "traefik": ["traefik"]}
