"""Building the stack's own images (workloads/) and loading them into the cluster.

Tags are a hash of the build context, so an unchanged image is neither rebuilt
nor reloaded, and a changed one gets a new tag (pods roll to it). The host's
extra CA certificates go to the build stage only (pip behind an intercepting
proxy); upstream builds pass nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from kubedefis import paths
from kubedefis.bootstrap.rootfs import image_exists
from kubedefis.shell import Status, run

EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")


@dataclass(frozen=True)
class WorkloadImage:
    name: str  # repository name under kubedefis/
    context: Path
    target: str | None = None
    build_args: tuple[tuple[str, str], ...] = ()

    def tag(self) -> str:
        return context_hash(self.context, self.target, self.build_args)

    def ref(self) -> str:
        return f"kubedefis/{self.name}:{self.tag()}"


def context_hash(context: Path, target: str | None, build_args: tuple[tuple[str, str], ...] = ()) -> str:
    digest = hashlib.sha256(f"{target}:{build_args}".encode())
    ignored = {"__pycache__", ".pytest_cache", ".ruff_cache", "node_modules", ".venv"}
    for path in sorted(context.rglob("*")):
        if path.is_file() and not ignored.intersection(path.parts) and path.suffix != ".pyc":
            digest.update(str(path.relative_to(context)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def extra_ca_certs() -> str:
    if not EXTRA_CA_DIR.is_dir():
        return ""
    return "\n".join(p.read_text() for p in sorted(EXTRA_CA_DIR.glob("*.crt")))


def build(image: WorkloadImage, status: Status) -> str:
    ref = image.ref()
    if image_exists(ref):
        return ref
    with status.step(f"Building image {ref}"):
        command = ["docker", "build", "-t", ref]
        if image.target:
            command += ["--target", image.target]
        if (image.context / "Dockerfile").read_text().find("EXTRA_CA_CERTS") >= 0:
            command += ["--build-arg", f"EXTRA_CA_CERTS={extra_ca_certs()}"]
        for key, value in image.build_args:
            command += ["--build-arg", f"{key}={value}"]
        run([*command, str(image.context)], quiet=False)
    return ref


def web_nodb(version: str = "v1") -> WorkloadImage:
    return WorkloadImage("web-nodb", paths.REPO_ROOT / "workloads/web-nodb", build_args=(("WEB_VERSION", version),))
