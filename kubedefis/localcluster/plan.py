"""What `make up` needs, offline or online: node image, add-on images and tool binaries.

Offline (the default where no upstream image can be pulled): build everything
from the Go module proxy, Debian and debootstrap, all cached. Online: upstream
kind node image and add-on images, and only kind and helm built with Go.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kubedefis.core import paths, versions
from kubedefis.core.errors import KubedefisError
from kubedefis.core.shell import Status
from kubedefis.localcluster import components as images
from kubedefis.localcluster import engine, gobuild, nodeimage, rootfs
from kubedefis.localcluster.lock import build_lock
from kubedefis.localcluster.provider import DEFAULT_NAME, ClusterSpec, upstream_addon_images


@dataclass(frozen=True)
class Toolchain:
    kind: Path
    helm: Path
    kubectl: Path
    kubeconform: Path | None


def offline_mode(status: Status) -> bool:
    """KUBEDEFIS_OFFLINE=1/0 forces a mode; otherwise offline unless the upstream node image pulls."""
    forced = os.environ.get("KUBEDEFIS_OFFLINE", "auto").lower()
    if forced in ("1", "true", "yes"):
        return True
    if forced in ("0", "false", "no"):
        return False
    if rootfs.image_exists(versions.UPSTREAM_NODE_IMAGE):
        return False
    try:
        # The whole image (1.4 GB): a slow link takes minutes, and a link that answers is the online path.
        proc = subprocess.run(["docker", "pull", "-q", versions.UPSTREAM_NODE_IMAGE], capture_output=True, timeout=1800)
    except subprocess.TimeoutExpired as exc:
        raise KubedefisError(
            f"docker pull {versions.UPSTREAM_NODE_IMAGE} did not finish in 30 minutes: a registry answers, slowly. "
            "Pull it yourself and run again, or build everything here with KUBEDEFIS_OFFLINE=1."
        ) from exc
    if proc.returncode == 0:
        status.info(f"pulled {versions.UPSTREAM_NODE_IMAGE}: using upstream images")
        return False
    status.info("no container registry reachable: building the cluster offline (cached after the first run)")
    return True


def pull_node_image(ref: str, status: Status) -> None:
    """The online path's node image, pulled once (KUBEDEFIS_OFFLINE=0 skips the auto mode's probe pull)."""
    if rootfs.image_exists(ref):
        return
    with status.step(f"Pulling {ref}"):
        proc = subprocess.run(["docker", "pull", "-q", ref], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise KubedefisError(
            f"docker pull {ref} failed: {proc.stderr.strip() or proc.stdout.strip()}. "
            "The online path needs a registry (Docker Hub, or a mirror in dockerd's registry-mirrors); "
            "without one, build everything here with KUBEDEFIS_OFFLINE=1."
        )


def toolchain(status: Status, offline: bool) -> Toolchain:
    kind = gobuild.build(gobuild.tool("kind"), status).binary()
    helm = gobuild.build(gobuild.tool("helm"), status).binary()
    kubeconform = gobuild.build(gobuild.tool("kubeconform"), status).binary()
    if offline:
        kubectl = gobuild.build_kubernetes(status) / "kubectl"
    else:
        found = subprocess.run(["sh", "-c", "command -v kubectl"], capture_output=True, text=True).stdout.strip()
        kubectl = Path(found) if found else gobuild.build_kubernetes(status) / "kubectl"
    return Toolchain(kind=kind, helm=helm, kubectl=kubectl, kubeconform=kubeconform)


def build_offline(status: Status) -> tuple[str, dict[str, str]]:
    """Every offline artefact; returns the node image and the add-on image refs."""
    rootfs.ensure_slim_image(status)
    built = gobuild.build_all(status)
    refs = images.build_cluster_images(built, status)
    node = nodeimage.build_node_image(built, refs, status)
    return node, refs.placeholders()


def cluster_spec(status: Status, name: str | None = None) -> tuple[ClusterSpec, Toolchain]:
    """Everything needed to create the local cluster, building what is missing."""
    engine.ensure_docker(status)
    paths.work_dir().mkdir(parents=True, exist_ok=True)
    name = name or os.environ.get("KUBEDEFIS_CLUSTER", DEFAULT_NAME)
    override = os.environ.get("KUBEDEFIS_NODE_IMAGE")
    with build_lock(status):
        offline = offline_mode(status) if not override else True
        tools = toolchain(status, offline)
        if offline:
            node, addons = build_offline(status)
            node = override or node
        else:
            node, addons = versions.UPSTREAM_NODE_IMAGE, upstream_addon_images()
            pull_node_image(node, status)
    if not rootfs.image_exists(node):
        raise KubedefisError(f"node image {node} is not available locally")
    spec = ClusterSpec(name=name, node_image=node, addon_images=addons, kind=tools.kind, kubectl=tools.kubectl)
    return spec, tools
