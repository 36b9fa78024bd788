"""The cluster under test, as the checks reach it: API clients, kubectl, Helm, the Ingress, the local node."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kubedefis.core import kube, manifests
from kubedefis.core.errors import KubedefisError
from kubedefis.core.helm import Helm
from kubedefis.core.shell import Status, run
from kubedefis.harness.access import IngressEndpoint
from kubedefis.localcluster import provider
from kubedefis.localcluster.provider import ClusterSpec


@dataclass
class ClusterHandle:
    """The cluster under test and the tools to act on it."""

    kube: kube.Kube
    kubectl: Path
    helm_path: Path
    kubeconfig: str
    ingress_address: str
    http_port: int
    https_port: int
    local_spec: ClusterSpec | None  # our kind cluster; None for an external one
    # Grading a stack already deployed: nothing is being installed, so nothing appears by waiting.
    grading_existing: bool = False

    def kubectl_command(self) -> list[str]:
        """kubectl with the flags that point it at this cluster."""
        command = [str(self.kubectl), "--kubeconfig", self.kubeconfig]
        if self.kube.context:
            command += ["--context", self.kube.context]
        return command

    def kubectl_run(self, *args: str, input: str | None = None, check: bool = True) -> str:
        if args[:1] == ("apply",) and check:
            return manifests.kubectl_apply([*self.kubectl_command(), *args], input=input)
        return run([*self.kubectl_command(), *args], input=input, check=check).stdout

    def helm(self) -> Helm:
        return Helm(self.helm_path, self.kubeconfig, self.kube.context)

    def ingress(self, host: str, token: str | None = None) -> IngressEndpoint:
        return IngressEndpoint(self.ingress_address, self.http_port, self.https_port, host, token)

    def load_images(self, refs: list[str]) -> None:
        if self.local_spec is None:
            raise KubedefisError("images can only be loaded into the local kind cluster; push them to a registry")
        provider.load_images(self.local_spec, refs, Status())
