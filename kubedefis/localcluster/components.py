"""Container images for the cluster's components, built from our Go binaries on debian:trixie-slim.

Each image is described by a small spec (binaries, Debian packages, entrypoint)
and built from a generated Dockerfile, so there is one build path for all.
Images are tagged with the exact names kubeadm and our manifests use; an image
already present is not rebuilt (its tag carries the component's version).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from kubedefis.core import paths, versions
from kubedefis.core.shell import Status, run
from kubedefis.localcluster import gobuild
from kubedefis.localcluster.rootfs import image_exists

BASE = f"debian:{versions.DEBIAN_SUITE}-slim"


@dataclass(frozen=True)
class ImageSpec:
    ref: str
    binaries: dict[str, Path]  # destination path in the image -> binary on the host
    packages: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    user: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    def dockerfile(self) -> str:
        lines = [f"FROM {BASE}"]
        if self.packages:
            lines.append(
                "RUN apt-get update && apt-get install -y --no-install-recommends "
                + " ".join(self.packages)
                + " && rm -rf /var/lib/apt/lists/*"
            )
        for index, destination in enumerate(self.binaries):
            lines.append(f"COPY bin{index} {destination}")
        for key, value in self.env.items():
            lines.append(f"ENV {key}={value}")
        if self.user:
            lines.append(f"USER {self.user}")
        if self.entrypoint:
            lines.append(f"ENTRYPOINT {json.dumps(list(self.entrypoint))}")
        return "\n".join(lines) + "\n"


def build_image(spec: ImageSpec, status: Status) -> str:
    if image_exists(spec.ref):
        return spec.ref
    with status.step(f"Building image {spec.ref}"), tempfile.TemporaryDirectory(dir=paths.work_dir()) as ctx:
        context = Path(ctx)
        for index, source in enumerate(spec.binaries.values()):
            shutil.copy2(source, context / f"bin{index}")
        (context / "Dockerfile").write_text(spec.dockerfile())
        run(["docker", "build", "-q", "-t", spec.ref, str(context)])
    return spec.ref


def build_pause(version: str, status: Status) -> Path:
    """pause from Kubernetes' own C source: a static binary that only waits for signals."""
    out = paths.bin_dir() / f"pause-{version}" / "pause"
    if out.exists():
        return out
    with status.step(f"Building pause {version} (gcc -static)"):
        source = gobuild.module_dir("k8s.io/kubernetes", versions.KUBERNETES) / "build/pause/linux/pause.c"
        out.parent.mkdir(parents=True, exist_ok=True)
        run(["gcc", "-Os", "-static", "-Wall", f"-DVERSION={version}", "-o", str(out) + ".tmp", str(source)])
        run(["strip", str(out) + ".tmp"])
        Path(str(out) + ".tmp").rename(out)
    return out


@dataclass(frozen=True)
class ClusterImages:
    """The refs of every image the node image preloads, by role."""

    kubernetes: dict[str, str]
    etcd: str
    coredns: str
    pause: str
    kube_router: str
    local_path_provisioner: str
    local_path_helper: str
    metrics_server: str
    traefik: str

    def placeholders(self) -> dict[str, str]:
        """Image refs by the $placeholder names our manifests use."""
        return {
            "kube_router": self.kube_router,
            "local_path_provisioner": self.local_path_provisioner,
            "local_path_helper": self.local_path_helper,
            "metrics_server": self.metrics_server,
            "traefik": self.traefik,
        }

    def all(self) -> list[str]:
        return [
            *self.kubernetes.values(),
            self.etcd,
            self.coredns,
            self.pause,
            self.kube_router,
            self.local_path_provisioner,
            self.local_path_helper,
            self.metrics_server,
            self.traefik,
        ]


def specs(built: dict[str, Path]) -> tuple[ClusterImages, list[ImageSpec]]:
    """Image specs for what `gobuild.build_all` produced."""
    tags = gobuild.kubeadm_image_versions()
    k8s = built["kubernetes"]
    registry = "registry.k8s.io"
    out: list[ImageSpec] = []
    kube_refs = {}
    for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"):
        ref = f"{registry}/{component}:{versions.KUBERNETES}"
        kube_refs[component] = ref
        packages = ("iptables", "conntrack", "kmod") if component == "kube-proxy" else ()
        out.append(ImageSpec(ref, {f"/usr/local/bin/{component}": k8s / component}, packages=packages))
    etcd = f"{registry}/etcd:{tags['etcd']}"
    out.append(ImageSpec(etcd, {"/usr/local/bin/etcd": built["etcd"] / "etcd"}))
    coredns = f"{registry}/coredns/coredns:{tags['coredns']}"
    out.append(ImageSpec(coredns, {"/coredns": built["coredns"] / "coredns"}, entrypoint=("/coredns",)))
    pause = f"{registry}/pause:{tags['pause']}"
    out.append(
        ImageSpec(pause, {"/pause": paths.bin_dir() / f"pause-{tags['pause']}" / "pause"}, entrypoint=("/pause",))
    )
    kube_router = f"kubedefis/kube-router:{versions.KUBE_ROUTER}"
    out.append(
        ImageSpec(
            kube_router,
            {"/usr/local/bin/kube-router": built["kube-router"] / "kube-router"},
            packages=("iptables", "ipset", "iproute2", "conntrack"),
            entrypoint=("/usr/local/bin/kube-router",),
        )
    )
    local_path = f"kubedefis/local-path-provisioner:{versions.LOCAL_PATH_PROVISIONER}"
    out.append(
        ImageSpec(
            local_path,
            {"/usr/local/bin/local-path-provisioner": built["local-path-provisioner"] / "local-path-provisioner"},
            entrypoint=("/usr/local/bin/local-path-provisioner",),
        )
    )
    metrics = f"kubedefis/metrics-server:{versions.METRICS_SERVER}"
    out.append(
        ImageSpec(
            metrics,
            {"/metrics-server": built["metrics-server"] / "metrics-server"},
            entrypoint=("/metrics-server",),
            user="65534",
        )
    )
    traefik = f"kubedefis/traefik:{versions.TRAEFIK}"
    out.append(
        ImageSpec(
            traefik,
            {"/usr/local/bin/traefik": built["traefik"] / "traefik"},
            packages=("ca-certificates",),
            entrypoint=("/usr/local/bin/traefik",),
            user="65532",
        )
    )
    refs = ClusterImages(
        kubernetes=kube_refs,
        etcd=etcd,
        coredns=coredns,
        pause=pause,
        kube_router=kube_router,
        local_path_provisioner=local_path,
        # The helper pod only needs a shell to create and remove folders.
        local_path_helper=BASE,
        metrics_server=metrics,
        traefik=traefik,
    )
    return refs, out


def build_cluster_images(built: dict[str, Path], status: Status) -> ClusterImages:
    build_pause(gobuild.kubeadm_image_versions()["pause"], status)
    refs, image_specs = specs(built)
    for spec in image_specs:
        build_image(spec, status)
    return refs
