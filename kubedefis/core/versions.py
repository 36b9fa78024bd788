"""Pinned versions of everything the offline bootstrap builds (one place to bump them).

Kubernetes 1.34 runs on cgroup v1 hosts without extra flags (1.35+ needs failCgroupV1: false).
etcd, CoreDNS and pause are not pinned here: they are read from kubeadm's own constants
in the Kubernetes source, so the images always carry the tags kubeadm asks for.
"""

KUBERNETES = "v1.34.4"
KIND = "v0.32.0"
HELM = "v3.22.0"
CONTAINERD = "v2.2.9"
CRICTL = "v1.34.0"
KUBE_ROUTER = "v2.1.0"
METRICS_SERVER = "v0.8.0"
LOCAL_PATH_PROVISIONER = "v0.0.30"
TRAEFIK = "v3.6.12"
KUBECONFORM = "v0.7.0"

# The Debian release every image is built from (FROM debian:trixie-slim).
DEBIAN_SUITE = "trixie"

# The upstream kind node image for KUBERNETES, used where the internet is reachable.
UPSTREAM_NODE_IMAGE = f"kindest/node:{KUBERNETES}"

# Défi 22 (Kubeflow Trainer), built only when that défi needs it: the trainer's controller and the
# JobSet controller it drives, from their Go modules; their charts come from the same module zips.
KUBEFLOW_TRAINER = "v2.3.0"
JOBSET = "v0.12.0"

# Défi 21 (KubeVirt), built only when that défi needs it. v1.7.0 is the newest release whose whole
# dependency graph the Go module proxy serves (v1.8+ need libnbd and virt-template modules it refuses).
KUBEVIRT = "v1.7.0"
