"""The stack's own images (workloads/): the one place that builds, tags and loads them into the cluster.

Tags are a hash of the build context, so an unchanged image is neither rebuilt
nor reloaded, and a changed one gets a new tag (pods roll to it). The host's
extra CA certificates go to the build stage only (pip behind an intercepting
proxy); upstream builds pass nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kubedefis.core import paths
from kubedefis.core.shell import Status, run
from kubedefis.localcluster import provider
from kubedefis.localcluster.rootfs import image_exists

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


SITE = paths.REPO_ROOT / "workloads/site"
SITE_COMPONENTS = ("site", "api", "public")
HANDIN_TAG = "0.1.0"  # the tag the défi 3-5 hand-ins and the other-stack chart name (our appVersion)


def web_nodb(version: str = "v1") -> WorkloadImage:
    """The défi 1-2 page (no database)."""
    return WorkloadImage("web-nodb", paths.REPO_ROOT / "workloads/web-nodb", build_args=(("WEB_VERSION", version),))


def site_image(component: str, site_version: str | None = None) -> WorkloadImage:
    """One component of the site (site, api, public); site_version builds another version of its code (défis 8, 19)."""
    args = (("SITE_VERSION", site_version),) if site_version else ()
    return WorkloadImage(component, SITE, target=component, build_args=args)


def stack_images() -> list[WorkloadImage]:
    """Every image the chart runs: the site's three components, PostgreSQL and Redis."""
    return [
        *(site_image(c) for c in SITE_COMPONENTS),
        WorkloadImage("postgres", paths.REPO_ROOT / "workloads/postgres"),
        WorkloadImage("redis", paths.REPO_ROOT / "workloads/redis"),
    ]


def stack_tag(images: Sequence[WorkloadImage]) -> str:
    """One tag for a set of images (the chart's image.tag): a hash of their content hashes."""
    return hashlib.sha256(" ".join(i.tag() for i in images).encode()).hexdigest()[:12]


def publish(
    images: Sequence[WorkloadImage], tag: str, status: Status, into: provider.ClusterSpec | None = None
) -> list[str]:
    """Build each image (cached by content), tag it kubedefis/<name>:<tag>, load it into the local cluster.

    Returns the references. Without a local cluster (`into=None`) the images stay in Docker.
    """
    refs = []
    for image in images:
        built = build(image, status)
        ref = f"kubedefis/{image.name}:{tag}"
        if ref != built:
            run(["docker", "tag", built, ref])
        refs.append(ref)
    if into is not None:
        provider.load_images(into, refs, status)
    return refs


def publish_stack(status: Status, into: provider.ClusterSpec | None = None, tag: str | None = None) -> str:
    """The whole stack under one tag (its content hash unless given); returns the tag."""
    images = stack_images()
    tag = tag or stack_tag(images)
    publish(images, tag, status, into)
    return tag


def publish_site_version(
    site_version: str,
    status: Status,
    into: provider.ClusterSpec | None = None,
    components: Sequence[str] = SITE_COMPONENTS,
) -> str:
    """Another version of the site's code, each component tagged `<content hash>-<version>`; returns the tag.

    A version the site does not know (`broken`) builds fine but fails at start-up: the image of a
    release that must be stopped at staging (défi 19).
    """
    images = [site_image(c, site_version) for c in components]
    tag = f"{stack_tag(images)}-{site_version}"
    publish(images, tag, status, into)
    return tag
