"""`kubedefis up` (`make up`): the cluster, the stack's images, the stack itself, and the URL where it answers."""

from __future__ import annotations

import os

from kubedefis.core import kube, manifests, paths
from kubedefis.core.errors import KubedefisError
from kubedefis.core.helm import Helm
from kubedefis.core.shell import Status, run
from kubedefis.localcluster import plan, provider
from kubedefis.stack import deploy, images

NAMESPACE = os.environ.get("KUBEDEFIS_NAMESPACE", "kubedefis")
DEFI2_HOST = "csc8567.localhost"

DEFI2_INGRESS = """\
# Added by `make up` so the défi 2 site answers on the host (the hand-in itself uses kubectl proxy).
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: csc8567
spec:
  rules:
    - host: {host}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: csc8567
                port:
                  number: 80
"""


def kubectl(spec: provider.ClusterSpec, *args: str, input: str | None = None) -> str:
    command = [str(spec.kubectl), "--kubeconfig", str(spec.kubeconfig), *args]
    return manifests.kubectl_apply(command, input=input) if args[:1] == ("apply",) else run(command, input=input).stdout


def ensure_namespace(spec: provider.ClusterSpec, namespace: str) -> None:
    manifest = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n"
    kubectl(spec, "apply", "-f", "-", input=manifest)


def deploy_defi2(spec: provider.ClusterSpec, client: kube.Kube, status: Status) -> str:
    images.publish([images.web_nodb("v1")], "v1", status, into=spec)
    with status.step(f"Deploying défi 2 into namespace {NAMESPACE}"):
        ensure_namespace(spec, NAMESPACE)
        handin = paths.REPO_ROOT / "defis/defi2"
        kubectl(
            spec, "apply", "-n", NAMESPACE, "-f", str(handin / "deployment.yaml"), "-f", str(handin / "service.yaml")
        )
        kubectl(spec, "apply", "-n", NAMESPACE, "-f", "-", input=DEFI2_INGRESS.format(host=DEFI2_HOST))
        kube.wait_deployment(client, NAMESPACE, "csc8567", timeout=180)
    return f"http://{DEFI2_HOST}:{spec.http_port}/"


def deploy_stack(
    spec: provider.ClusterSpec, client: kube.Kube, tools: plan.Toolchain, status: Status, size: deploy.Size
) -> str:
    stage = deploy.Stage(NAMESPACE, size=size)
    installed = deploy.install(stage, client, Helm(tools.helm, str(spec.kubeconfig)), spec, status)
    return f"http://{installed.host}:{spec.http_port}/"


def up(status: Status, name: str | None = None, stage: str = "auto", size: deploy.Size = "small") -> str:
    spec, tools = plan.cluster_spec(status, name)
    client = provider.ensure_cluster(spec, status)
    if stage == "auto":
        stage = "full" if (paths.REPO_ROOT / "chart/Chart.yaml").exists() else "defi2"
    if stage == "defi2":
        return deploy_defi2(spec, client, status)
    if stage == "full":
        return deploy_stack(spec, client, tools, status, size)
    raise KubedefisError(f"unknown stage {stage!r}: use defi2, full or auto")
