"""Short-lived pods that test the network from inside the namespace (NetworkPolicy checks)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from kubedefis.core import kube, timeouts
from kubedefis.core.waits import Check, wait_for

# Runs in the probe pod: keep trying for a window, since a policy enforcer programs a new pod's
# address a few seconds after it starts. Connected once = reachable; never within the window =
# blocked (what a NetworkPolicy must guarantee for every attempt).
CONNECT = """
import socket, sys, time
host, port, window = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
deadline, attempts, last = time.monotonic() + window, 0, ""
while time.monotonic() < deadline:
    attempts += 1
    try:
        socket.create_connection((host, port), timeout=3).close()
        print(f"connected after {attempts} attempt(s)")
        sys.exit(0)
    except OSError as exc:
        last = f"{type(exc).__name__}: {exc}"
        time.sleep(1)
print(f"blocked: {attempts} attempts in {window:.0f}s, last {last}")
sys.exit(1)
"""


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
    window: float = timeouts.NETWORK_PROBE,
) -> ProbeResult:
    """Run a pod with these labels that tries TCP connections to host:port for `window` seconds."""
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
                    command=["python3", "-c", CONNECT, host, str(port), str(window)],
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
            timeout=timeouts.POD_READY + window,
            evidence=lambda: kube.evidence(kube_client, namespace, name),
        )
        assert done is not None
        output = kube_client.core.read_namespaced_pod_log(name, namespace)
        return ProbeResult(done.status.phase == "Succeeded", output.strip())
    finally:
        kube_client.core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
