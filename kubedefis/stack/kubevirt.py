"""Défi 21: KubeVirt installed as upstream documents it (operator manifest, then the KubeVirt CR), offline.

The manifests are the release's own, rendered from the module (kubedefis.localcluster.kubevirt) with
our images: operator, API and controller as plain binaries; handler and launcher from the Dockerfiles
in workloads/ (Debian's nftables, libvirt and QEMU), their build contexts completed here with the
built binaries and upstream's configuration files.

Whether guests use KVM or QEMU's emulation is detected on the node's kernel, not written down:
`spec.configuration.developerConfiguration.useEmulation` follows `kvm_usable`.

Online, KubeVirt follows the cluster: on a cluster made from kind's upstream node image
(KUBEDEFIS_OFFLINE=0, or the auto mode where a registry answers) the same manifests are rendered for
upstream's images, which the node pulls by their upstream names (through KUBEDEFIS_REGISTRY_MIRROR
where one is set); nothing of KubeVirt is built but virtctl and the templator. The guest's
containerDisk stays ours (no registry has it): built and loaded either way.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kubedefis.core import kube, paths, versions
from kubedefis.core.shell import Status, run
from kubedefis.core.waits import Check, wait_for
from kubedefis.localcluster import kubevirt as builds
from kubedefis.localcluster import provider
from kubedefis.localcluster.rootfs import MIRROR, image_exists
from kubedefis.stack import images
from kubedefis.stack.images import context_hash

NAMESPACE = builds.NAMESPACE
CR_NAME = "kubevirt"
HANDLER_CONTEXT = paths.REPO_ROOT / "workloads/kubevirt-handler"
LAUNCHER_CONTEXT = paths.REPO_ROOT / "workloads/virt-launcher"
GUEST_CONTEXT = paths.REPO_ROOT / "workloads/guest-debian"
# What the guest needs beyond minbase: an init, a kernel for virtio disks (modules in its initramfs),
# SSH, the guest agent KubeVirt reports the OS through, cloud-init for the user's key, and what
# cloud-init calls to format and grow disks (e2fsprogs) and to make the user an admin (sudo).
GUEST_PACKAGES = (
    "systemd-sysv",
    "linux-image-cloud-amd64",
    "initramfs-tools",
    "openssh-server",
    "qemu-guest-agent",
    "cloud-init",
    # debootstrap resolves no virtual packages: python3-cryptography's python3-cffi-backend-api-*
    "python3-cffi-backend",
    "iproute2",
    "e2fsprogs",
    "sudo",
)
GUEST_IMAGE = f"kubedefis/guest-debian:{images.HANDIN_TAG}"  # the name defis/defi21's VMs use
GUEST_FREE_MIB = 512  # room left on the guest's filesystem


@dataclass(frozen=True)
class Built:
    images: builds.KubevirtImages
    operator_manifest: Path
    cr_manifest: Path
    virtctl: Path
    guest_image: str
    upstream: bool = False  # upstream's images, pulled by the node; else ours, loaded into it

    def to_load(self) -> list[str]:
        """The local images the node needs copied in (upstream's it pulls itself)."""
        return [self.guest_image] if self.upstream else [*self.images.all(), self.guest_image]


# --- images from our Dockerfiles ------------------------------------------------------------------------


def _context_image(name: str, context: Path, files: dict[str, Path], status: Status) -> str:
    """kubedefis/<name>:<version>-<hash of the Dockerfile's folder and of the files added to it>.

    Cached by that hash; the caller gives it the name its users expect (`docker tag`).
    """
    digest = hashlib.sha256(context_hash(context, None).encode())
    for destination, source in sorted(files.items()):
        digest.update(destination.encode())
        digest.update(hashlib.sha256(source.read_bytes()).digest())
    ref = f"kubedefis/{name}:{versions.KUBEVIRT}-{digest.hexdigest()[:12]}"
    if image_exists(ref):
        return ref
    with status.step(f"Building image {ref}"), tempfile.TemporaryDirectory(dir=paths.work_dir()) as tmp:
        build = Path(tmp) / "context"
        shutil.copytree(context, build)
        for destination, source in files.items():
            (build / destination).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, build / destination)
            (build / destination).chmod(0o755 if destination.startswith("bin/") else 0o644)
        run(["docker", "build", "-t", ref, str(build)], quiet=False)
    return ref


def handler_files(built: Path) -> dict[str, Path]:
    return {f"bin/{name}": built / name for name in ("virt-handler", "virt-chroot")}


def launcher_files(built: Path, container_disk: Path) -> dict[str, Path]:
    """Binaries of upstream's virt-launcher-tar, and its /etc files, taken from the module."""
    upstream = builds.module_dir() / "cmd/virt-launcher"
    files = {f"bin/{name}": built / name for name in ("virt-launcher", *builds.LAUNCHER_HELPERS)}
    files["bin/container-disk"] = container_disk
    files["bin/node-labeller.sh"] = upstream / "node-labeller/node-labeller.sh"
    files["libvirt/qemu.conf"] = upstream / "qemu.conf"
    files["libvirt/virtqemud.conf"] = upstream / "virtqemud.conf"
    files["nsswitch.conf"] = upstream / "nsswitch.conf"
    return files


# --- the guest's containerDisk -------------------------------------------------------------------------


@dataclass(frozen=True)
class GuestDisk:
    folder: Path

    def files(self) -> dict[str, Path]:
        """Build-context name -> file, for workloads/guest-debian/Dockerfile."""
        return {name: self.folder / name for name in ("disk.qcow2", "vmlinuz", "initrd.img")}


def build_guest_disk(status: Status) -> GuestDisk:
    """Debian trixie as a qcow2 disk plus its kernel and initramfs (cached by the overlay and package list)."""
    key = hashlib.sha256(f"{context_hash(GUEST_CONTEXT, None)}:{GUEST_PACKAGES}".encode()).hexdigest()[:12]
    out = paths.work_dir() / f"guest-debian-{versions.DEBIAN_SUITE}-{key}"
    if (out / ".complete").exists():
        return GuestDisk(out)
    for tool, package in (("debootstrap", "debootstrap"), ("qemu-img", "qemu-utils")):
        if not shutil.which(tool):
            with status.step(f"Installing {package} from apt"):
                run(["apt-get", "install", "-y", "-qq", package], env={"DEBIAN_FRONTEND": "noninteractive"})
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    root = staging / "rootfs"
    root.mkdir(parents=True)
    with status.step(f"Building the guest disk (debootstrap {versions.DEBIAN_SUITE}, cloud kernel, qcow2)"):
        run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(GUEST_PACKAGES)}",
             versions.DEBIAN_SUITE, str(root), MIRROR],
            quiet=False,
        )  # fmt: skip
        _configure_guest(root)
        kernel = max(root.glob("boot/vmlinuz-*"))
        shutil.copy2(kernel, staging / "vmlinuz")
        shutil.copy2(root / "boot" / kernel.name.replace("vmlinuz", "initrd.img"), staging / "initrd.img")
        used_mib = int(run(["du", "-sm", "--exclude=./proc", str(root)]).stdout.split()[0])
        raw = staging / "disk.raw"
        run(["mkfs.ext4", "-q", "-L", "root", "-d", str(root), str(raw), f"{used_mib * 5 // 4 + GUEST_FREE_MIB}M"])
        shutil.rmtree(root)
        run(["qemu-img", "convert", "-c", "-O", "qcow2", str(raw), str(staging / "disk.qcow2")])
        raw.unlink()
    (staging / ".complete").write_text("")
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return GuestDisk(out)


def _configure_guest(root: Path) -> None:
    """Our files over the tree; networkd on; nothing machine-specific or cached left in the image."""
    shutil.copytree(GUEST_CONTEXT / "rootfs", root, dirs_exist_ok=True)
    run(["chroot", str(root), "systemctl", "enable", "systemd-networkd.service"])
    (root / "etc/machine-id").write_text("")  # each VM makes its own at first boot
    for pattern in ("var/lib/apt/lists/*", "var/cache/apt/archives/*.deb", "var/log/*.log"):
        for path in root.glob(pattern):
            if path.is_file():
                path.unlink()


def build_guest_image(status: Status) -> str:
    """The containerDisk (and kernel-boot) image of the guest, also tagged GUEST_IMAGE; returns GUEST_IMAGE."""
    ref = _context_image("guest-debian", GUEST_CONTEXT, build_guest_disk(status).files(), status)
    run(["docker", "tag", ref, GUEST_IMAGE])
    return GUEST_IMAGE


# --- build and install ------------------------------------------------------------------------------------


def build_all(status: Status) -> Built:
    """Every défi 21 artefact (cached): KubeVirt's binaries, five images and manifests; the guest's image."""
    built = builds.build_binaries(status)
    operator, api, controller = builds.build_plain_images(built, status)
    handler = _context_image("virt-handler", HANDLER_CONTEXT, handler_files(built), status)
    files = launcher_files(built, builds.build_container_disk(status))
    launcher = _context_image("virt-launcher", LAUNCHER_CONTEXT, files, status)
    for component, ref in (("virt-handler", handler), ("virt-launcher", launcher)):
        run(["docker", "tag", ref, builds.image_ref(component)])
    refs = builds.KubevirtImages(
        operator, api, controller, builds.image_ref("virt-handler"), builds.image_ref("virt-launcher")
    )
    manifests = write_manifests(built, builds.OFFLINE, paths.work_dir() / "kubevirt" / versions.KUBEVIRT)
    guest = build_guest_image(status)
    return Built(refs, *manifests, builds.virtctl(), guest)


def write_manifests(templator_dir: Path, release: builds.Release, out: Path) -> tuple[Path, Path]:
    """The operator and CR manifests rendered for `release`, written in `out`; their paths."""
    operator_yaml, cr_yaml = builds.render_manifests(templator_dir, release)
    out.mkdir(parents=True, exist_ok=True)
    (out / "kubevirt-operator.yaml").write_text(operator_yaml)
    (out / "kubevirt-cr.yaml").write_text(cr_yaml)
    return out / "kubevirt-operator.yaml", out / "kubevirt-cr.yaml"


def build_upstream(status: Status) -> Built:
    """The online path's artefacts: virtctl, upstream's manifests for upstream's images, our guest image."""
    tools = builds.build_tools(status)
    out = paths.work_dir() / "kubevirt" / versions.KUBEVIRT / "upstream"
    manifests = write_manifests(tools, builds.UPSTREAM, out)
    guest = build_guest_image(status)
    return Built(builds.UPSTREAM.images(), *manifests, builds.virtctl(), guest, upstream=True)


def upstream_cluster(local: provider.ClusterSpec) -> bool:
    """Whether the cluster was made online (kind's upstream node image): then KubeVirt is upstream's too."""
    return local.node_image == versions.UPSTREAM_NODE_IMAGE


def kubevirt_cr(rendered: str, use_emulation: bool) -> dict[str, Any]:
    """Upstream's KubeVirt CR, with useEmulation set from the node (and nothing else changed)."""
    cr = yaml.safe_load(rendered)
    developer = cr.setdefault("spec", {}).setdefault("configuration", {}).setdefault("developerConfiguration", {})
    developer["useEmulation"] = use_emulation
    return dict(cr)


def install(client: kube.Kube, local: provider.ClusterSpec, status: Status, timeout: float) -> Built:
    """Build (cached), load into the node, apply the operator, then the CR; wait for phase Deployed.

    On an online cluster (`upstream_cluster`), upstream's images instead, pulled by the node.
    """
    built = build_upstream(status) if upstream_cluster(local) else build_all(status)
    provider.load_images(local, built.to_load(), status)
    use_kvm, why = builds.detect_kvm()
    status.info(f"guests: {'KVM' if use_kvm else 'QEMU emulation (useEmulation: true)'}: {why}")
    origin = f"upstream's images ({builds.UPSTREAM_PREFIX})" if built.upstream else "our images"
    with status.step(f"Installing KubeVirt {versions.KUBEVIRT}, {origin}"):
        provider.apply_manifest(local, built.operator_manifest.read_text())
        kube.wait_deployment(client, NAMESPACE, "virt-operator", timeout)
        cr = kubevirt_cr(built.cr_manifest.read_text(), use_emulation=not use_kvm)
        provider.apply_manifest(local, yaml.safe_dump(cr))
        wait_deployed(client, timeout)
    return built


def kubevirt_phase(client: kube.Kube) -> Check[str]:
    cr = client.custom.get_namespaced_custom_object("kubevirt.io", "v1", NAMESPACE, "kubevirts", CR_NAME)
    phase = cr.get("status", {}).get("phase", "")
    conditions = ", ".join(f"{c['type']}={c['status']}" for c in cr.get("status", {}).get("conditions", []))
    return Check(phase == "Deployed", phase, f"phase {phase or 'none'} ({conditions or 'no conditions'})")


def wait_deployed(client: kube.Kube, timeout: float) -> None:
    wait_for(
        f"KubeVirt {NAMESPACE}/{CR_NAME} to be Deployed",
        lambda: kubevirt_phase(client),
        timeout=timeout,
        interval=5,
        evidence=lambda: kube.evidence(client, NAMESPACE),
    )
