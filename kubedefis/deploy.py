"""`make up`: the cluster, the stack's images, the stack itself, and the URL where it answers."""

from __future__ import annotations

import os
from pathlib import Path

from kubedefis import cluster, kube, paths, workloads
from kubedefis.bootstrap import plan
from kubedefis.errors import KubedefisError
from kubedefis.shell import Status, run

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


def kubectl(spec: cluster.ClusterSpec, *args: str, input: str | None = None) -> str:
    return run([str(spec.kubectl), "--kubeconfig", str(spec.kubeconfig), *args], input=input).stdout


def ensure_namespace(spec: cluster.ClusterSpec, namespace: str) -> None:
    manifest = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n"
    kubectl(spec, "apply", "-f", "-", input=manifest)


def deploy_defi2(spec: cluster.ClusterSpec, client: kube.Kube, status: Status) -> str:
    image = workloads.web_nodb()
    ref = workloads.build(image, status)
    run(["docker", "tag", ref, "kubedefis/web-nodb:v1"])
    cluster.load_images(spec, ["kubedefis/web-nodb:v1"], status)
    with status.step(f"Deploying défi 2 into namespace {NAMESPACE}"):
        ensure_namespace(spec, NAMESPACE)
        handin = paths.REPO_ROOT / "defis/defi2"
        kubectl(
            spec, "apply", "-n", NAMESPACE, "-f", str(handin / "deployment.yaml"), "-f", str(handin / "service.yaml")
        )
        kubectl(spec, "apply", "-n", NAMESPACE, "-f", "-", input=DEFI2_INGRESS.format(host=DEFI2_HOST))
        kube.wait_deployment(client, NAMESPACE, "csc8567", timeout=180)
    return f"http://{DEFI2_HOST}:{spec.http_port}/"


def up(status: Status, name: str | None = None, stage: str = "auto") -> str:
    spec, _tools = plan.cluster_spec(status, name)
    client = cluster.ensure_cluster(spec, status)
    if stage == "auto":
        stage = "full" if Path(paths.REPO_ROOT / "chart/Chart.yaml").exists() else "defi2"
    if stage == "defi2":
        return deploy_defi2(spec, client, status)
    if stage == "full":
        from kubedefis import stack

        return stack.deploy_full(spec, client, status, NAMESPACE)
    raise KubedefisError(f"unknown stage {stage!r}: use defi2, full or auto")
