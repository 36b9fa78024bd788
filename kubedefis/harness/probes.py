"""Short-lived pods that test the network from inside the namespace (NetworkPolicy checks)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from kubedefis import kube
from kubedefis.harness import timeouts
from kubedefis.waits import Check, wait_for

CONNECT = (
    "import socket, sys\n"
    "try:\n"
    "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()\n"
    "except OSError as exc:\n"
    "    print(f'blocked: {type(exc).__name__}: {exc}'); sys.exit(1)\n"
    "print('connected')\n"
)


@dataclass(frozen=True)
class ProbeResult:
    connected: bool
    output: str


def tcp_probe(
    kube_client: kube.Kube,
    namespace: str,
    image: str,
    labels: dict[str, str],
    host: str,
    port: int,
    connect_timeout: float = timeouts.NETWORK_PROBE,
) -> ProbeResult:
    """Run a pod with these labels that opens a TCP connection to host:port; did it connect?"""
    name = f"kd-netprobe-{uuid.uuid4().hex[:6]}"
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={**labels, "kubedefis.io/probe": "network"}),
        spec=client.V1PodSpec(
            restart_policy="Never",
            automount_service_account_token=False,
            security_context=client.V1PodSecurityContext(
                run_as_non_root=True, run_as_user=10001, seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault")
            ),
            containers=[
                client.V1Container(
                    name="probe",
                    image=image,
                    image_pull_policy="IfNotPresent",
                    command=["python3", "-c", CONNECT, host, str(port), str(connect_timeout)],
                    security_context=client.V1SecurityContext(
                        allow_privilege_escalation=False,
                        read_only_root_filesystem=True,
                        capabilities=client.V1Capabilities(drop=["ALL"]),
                    ),
                    resources=client.V1ResourceRequirements(
                        requests={"cpu": "10m", "memory": "32Mi"}, limits={"cpu": "200m", "memory": "128Mi"}
                    ),
                )
            ],
        ),
    )
    kube_client.core.create_namespaced_pod(namespace, pod)
    try:

        def finished() -> Check[Any]:
            current = kube_client.core.read_namespaced_pod(name, namespace)
            return Check(current.status.phase in ("Succeeded", "Failed"), current, f"phase {current.status.phase}")

        done = wait_for(
            f"network probe pod {name}",
            finished,
            timeout=timeouts.POD_READY + connect_timeout,
            evidence=lambda: kube.evidence(kube_client, namespace, name),
        )
        assert done is not None
        output = kube_client.core.read_namespaced_pod_log(name, namespace)
        return ProbeResult(done.status.phase == "Succeeded", output.strip())
    finally:
        kube_client.core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
