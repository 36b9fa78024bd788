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
