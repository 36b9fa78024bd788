"""The kind node image, assembled the way `kind build node-image` does, but offline.

kind's own builder fetches etcd, CoreDNS, pause and its add-ons from registries
(`ctr content fetch`, no mirror option), so we do its steps ourselves:
1. a base image (Dockerfile in node/) from Debian packages and our containerd;
2. run it, copy kubeadm/kubelet/kubectl in, write /kind/version and the manifests
   kind applies at creation (CNI, storage);
3. start containerd inside and import every image with the pinned label;
4. commit with kind's entrypoint.
The node image tag carries a hash of its inputs: a change rebuilds, nothing else does.
"""

from __future__ import annotations

import hashlib
import shutil
import string
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from kubedefis.core import paths, versions
from kubedefis.core.errors import KubedefisError
from kubedefis.core.shell import Status, run
from kubedefis.core.waits import Check, wait_for
from kubedefis.localcluster import gobuild
from kubedefis.localcluster.components import ClusterImages
from kubedefis.localcluster.rootfs import image_exists

NODE_REPOSITORY = "kubedefis/node"
BUILD_CONTAINER = "kubedefis-node-build"


def manifest_text(name: str, images: dict[str, str]) -> str:
    """A manifest of ours with image refs filled in ($name placeholders; others, like $VOL_DIR, kept)."""
    text = resources.files("kubedefis.localcluster").joinpath("manifests", name).read_text()
    return string.Template(text).safe_substitute(images)


def manifest(name: str, images: ClusterImages) -> str:
    return manifest_text(name, images.placeholders())


def _inputs_hash(images: ClusterImages) -> str:
    digest = hashlib.sha256()
    node_dir = resources.files("kubedefis.localcluster").joinpath("node")
    digest.update(node_dir.joinpath("Dockerfile").read_bytes())
    digest.update(Path(__file__).read_bytes())  # this recipe: a change to it is a new image
    for name in ("default-cni.yaml", "default-storage.yaml"):
        digest.update(manifest(name, images).encode())
    for ref in sorted(images.all()):
        digest.update(ref.encode())
        digest.update(_image_id(ref).encode())
    return digest.hexdigest()[:12]


def _image_id(ref: str) -> str:
    return run(["docker", "image", "inspect", "--format", "{{.Id}}", ref]).stdout.strip()


def build_base_image(built: dict[str, Path], status: Status) -> str:
    dockerfile = resources.files("kubedefis.localcluster").joinpath("node", "Dockerfile").read_bytes()
    digest = hashlib.sha256(dockerfile)
    binaries = [built["containerd"] / n for n in ("containerd", "ctr", "containerd-shim-runc-v2")]
    binaries.append(built["crictl"] / "crictl")
    for binary in binaries:
        digest.update(binary.name.encode() + str(binary.stat().st_size).encode())
    ref = f"kubedefis/kind-base:{versions.KIND}-{digest.hexdigest()[:12]}"
    if image_exists(ref):
        return ref
    with status.step(f"Building node base image {ref}"), tempfile.TemporaryDirectory(dir=paths.work_dir()) as tmp:
        context = Path(tmp)
        kind_files = gobuild.module_dir("sigs.k8s.io/kind", versions.KIND) / "images/base/files"
        shutil.copytree(kind_files, context / "kind-files")
        (context / "bin").mkdir()
        for binary in binaries:
            shutil.copy2(binary, context / "bin" / binary.name)
        (context / "Dockerfile").write_bytes(dockerfile)
        run(["docker", "build", "-t", ref, str(context)], quiet=False)
    return ref


def build_node_image(built: dict[str, Path], images: ClusterImages, status: Status) -> str:
    base = build_base_image(built, status)
    ref = f"{NODE_REPOSITORY}:{versions.KUBERNETES}-{_inputs_hash(images)}"
    if image_exists(ref):
        return ref
    with status.step(f"Assembling node image {ref}"):
        subprocess.run(["docker", "rm", "-f", BUILD_CONTAINER], capture_output=True)
        run(
            [
                "docker",
                "run",
                "-d",
                "--privileged",
                "--name",
                BUILD_CONTAINER,
                "--entrypoint",
                "sleep",
                base,
                "infinity",
            ]
        )
        try:
            _populate(built, images)
            _import_images(images, status)
            run(
                [
                    "docker",
                    "commit",
                    "--change",
                    'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]',
                    # the build ran `sleep infinity`: clear that command (the base image's
                    # STOPSIGNAL and ENV carry over; Docker 20.10 cannot set STOPSIGNAL here)
                    "--change",
                    "CMD []",
                    BUILD_CONTAINER,
                    ref,
                ]
            )
        finally:
            subprocess.run(["docker", "rm", "-f", BUILD_CONTAINER], capture_output=True)
    return ref


def _exec(*command: str, input: bytes | str | None = None) -> str:
    return run(["docker", "exec", "-i", BUILD_CONTAINER, *command], input=input).stdout


def _populate(built: dict[str, Path], images: ClusterImages) -> None:
    k8s = built["kubernetes"]
    for binary in ("kubeadm", "kubelet", "kubectl"):
        run(["docker", "cp", str(k8s / binary), f"{BUILD_CONTAINER}:/usr/bin/{binary}"])
    _exec("sh", "-c", f"echo {versions.KUBERNETES} > /kind/version && mkdir -p /kind/manifests")
    for name in ("default-cni.yaml", "default-storage.yaml"):
        _exec("sh", "-c", f"cat > /kind/manifests/{name}", input=manifest(name, images))
    # Lowering a process's oom_score_adj needs CAP_SYS_RESOURCE, which hosts with a reduced
    # bounding set (like this one) lack, and pods ask for -998: keep containerd's own as floor.
    _exec("sed", "-i", "s|restrict_oom_score_adj = false|restrict_oom_score_adj = true|", "/etc/containerd/config.toml")
    # The CRI sandbox (pause) image must be the one kubeadm expects and we preload.
    _exec("sed", "-i", f's|sandbox_image = .*|sandbox_image = "{images.pause}"|', "/etc/containerd/config.toml")
    version = _exec("kubeadm", "version", "-o", "short").strip()
    if version != versions.KUBERNETES:
        raise KubedefisError(f"kubeadm reports {version!r}, expected {versions.KUBERNETES}: version ldflags missing?")


def _import_images(images: ClusterImages, status: Status) -> None:
    _exec("sh", "-c", "nohup containerd > /var/log/containerd-build.log 2>&1 &")

    def containerd_up() -> Check[None]:
        proc = subprocess.run(["docker", "exec", BUILD_CONTAINER, "ctr", "version"], capture_output=True)
        return Check(proc.returncode == 0, state=proc.stderr.decode(errors="replace").strip()[-200:])

    wait_for("containerd in the node build container", containerd_up, timeout=60, interval=0.5)
    refs = images.all()
    status.info(f"importing {len(refs)} images into the node's containerd")
    save = subprocess.Popen(["docker", "save", *refs], stdout=subprocess.PIPE)
    imported = subprocess.run(
        [
            "docker",
            "exec",
            "-i",
            BUILD_CONTAINER,
            "ctr",
            "--namespace=k8s.io",
            "images",
            "import",
            "--label=io.cri-containerd.pinned=pinned",
            "--all-platforms",
            "--no-unpack",
            "--digests",
            "-",
        ],
        stdin=save.stdout,
        capture_output=True,
    )
    if save.wait() != 0 or imported.returncode != 0:
        raise KubedefisError("importing images into the node image failed:\n" + imported.stderr.decode()[-2000:])
    listed = _exec("ctr", "--namespace=k8s.io", "images", "list", "-q")
    missing = [ref for ref in refs if _normalise(ref) not in listed.split()]
    if missing:
        raise KubedefisError(f"images missing from the node image after import: {missing}")
    # `sleep` is PID 1 here and reaps nothing: wait until containerd is gone or a zombie.
    _exec(
        "sh",
        "-c",
        "pkill -x containerd; while ps -C containerd -o stat= | grep -qv Z; do sleep 0.2; done; "
        "rm -f /var/log/containerd-build.log",
    )


def _normalise(ref: str) -> str:
    """containerd's full name for a docker-style reference."""
    first = ref.split("/")[0]
    if "/" not in ref:
        return f"docker.io/library/{ref}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{ref}"
    return ref
