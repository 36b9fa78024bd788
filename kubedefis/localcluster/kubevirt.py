"""Défi 21's KubeVirt, offline: v1.7.0 from its Go module, images on trixie-slim, manifests from its templates.

Built only when défi 21 asks for it (`kubedefis kubevirt build`), never by `make up`. Upstream builds
with Bazel on CentOS Stream RPMs; here:
- every command in one `go build` of the module source (how="source"), its go.mod pointing
  kubevirt.io/api and client-go at their published modules of the same version (the repository's
  ./staging copies are not in the module zip) and its go.work ignored. cgo is on for the whole build:
  virt-launcher needs it (libvirt bindings, `libvirt_dlopen`: no libvirt-dev here, libvirt.so.0 is
  loaded at run time) and virt-handler includes linux/kvm.h; one setting means the ≈ 1,200 shared
  packages compile once instead of twice. The other binaries are then linked against glibc, which
  every image has (trixie-slim);
- the container-disk helper (one C file) with `gcc -static`, like pause;
- operator, API and controller: a binary on trixie-slim as upstream's user 1001 (their Deployments
  run as non-root and call the command by name); handler and launcher from Dockerfiles under
  workloads/ (Debian's nftables, libvirt and QEMU);
- the release manifests rendered with the module's own manifest-templator, as upstream's
  hack/build-manifests.sh does, pointing at our image refs.

Online (a cluster made from kind's upstream node image), the same templates are rendered for
upstream's images (quay.io/kubevirt/virt-operator:v1.7.0, ...), which the node pulls by those names:
only virtctl and the templator are built then (`TOOLS`, no cgo), or taken from the offline build.
"""

from __future__ import annotations

import datetime
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from kubedefis.core import paths, versions
from kubedefis.core.errors import KubedefisError
from kubedefis.core.shell import Status, run
from kubedefis.localcluster import gobuild
from kubedefis.localcluster.components import ImageSpec, build_image

MODULE = "kubevirt.io/kubevirt"
NAMESPACE = "kubevirt"
IMAGE_PREFIX = "kubedefis"
UPSTREAM_PREFIX = "quay.io/kubevirt"  # where upstream's release manifests take every component from
NONROOT = "1001"  # upstream's nonroot-user (BUILD.bazel passwd-image)
# What the launcher image carries in /usr/bin besides virt-launcher (upstream's virt-launcher-tar).
LAUNCHER_HELPERS = ("virt-launcher-monitor", "virt-probe", "virt-tail", "virt-freezer")
COMMANDS = (
    "virt-operator",
    "virt-api",
    "virt-controller",
    "virt-handler",
    "virt-chroot",
    "virt-launcher",
    *LAUNCHER_HELPERS,
    "virtctl",
)


def _version_ldflags(version: str) -> tuple[str, ...]:
    """What upstream's version_x_defs stamp (`virtctl version` and the components report it)."""
    values = {
        "gitVersion": version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return tuple(f"-X 'kubevirt.io/client-go/version.{key}={value}'" for key, value in values.items())


_REPLACES = tuple((name, f"{name}@{versions.KUBEVIRT}") for name in ("kubevirt.io/api", "kubevirt.io/client-go"))

KUBEVIRT = gobuild.GoTool(
    "kubevirt",
    MODULE,
    versions.KUBEVIRT,
    (*(f"./cmd/{command}" for command in COMMANDS), "./tools/manifest-templator"),
    how="source",
    cgo=True,
    tags=("libvirt_dlopen",),
    ldflags=_version_ldflags(versions.KUBEVIRT),
    replaces=_REPLACES,
)

# The online path's build: what no image carries (virtctl) and what renders the manifests. Pure Go,
# as upstream builds virtctl; minutes instead of the full build's cgo one.
TOOLS = gobuild.GoTool(
    "kubevirt-tools",
    MODULE,
    versions.KUBEVIRT,
    ("./cmd/virtctl", "./tools/manifest-templator"),
    how="source",
    ldflags=_version_ldflags(versions.KUBEVIRT),
    replaces=_REPLACES,
)


@dataclass(frozen=True)
class KubevirtImages:
    operator: str
    api: str
    controller: str
    handler: str
    launcher: str

    def all(self) -> list[str]:
        return [self.operator, self.api, self.controller, self.handler, self.launcher]


@dataclass(frozen=True)
class Release:
    """Where a KubeVirt install takes its images from: <prefix>/<component>:<tag>, the operator's rule."""

    prefix: str
    tag: str = versions.KUBEVIRT

    def image(self, component: str) -> str:
        return f"{self.prefix}/{component}:{self.tag}"

    def images(self) -> KubevirtImages:
        return KubevirtImages(
            *(self.image(c) for c in ("virt-operator", "virt-api", "virt-controller", "virt-handler", "virt-launcher"))
        )


OFFLINE = Release(IMAGE_PREFIX)  # our images, built here and loaded into the node
UPSTREAM = Release(UPSTREAM_PREFIX)  # upstream's, pulled by the node from their registry


def module_dir() -> Path:
    return gobuild.module_dir(MODULE, versions.KUBEVIRT)


def build_container_disk(status: Status) -> Path:
    """The helper a containerDisk's init container copies and runs: static, since it runs in any image."""
    out = paths.bin_dir() / f"container-disk-{versions.KUBEVIRT}" / "container-disk"
    if out.exists():
        return out
    with status.step(f"Building container-disk {versions.KUBEVIRT} (gcc -static)"):
        source = module_dir() / "cmd/container-disk-v2alpha/main.c"
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        run(["gcc", "-O2", "-static", "-Wall", "-o", str(partial), str(source)])
        run(["strip", str(partial)])
        partial.rename(out)
    return out


def plain_image_specs(built: Path) -> list[ImageSpec]:
    """Operator, API and controller: their binary on PATH (the Deployments call it by name), user 1001."""
    return [
        ImageSpec(image_ref(name), {f"/usr/bin/{name}": built / name}, entrypoint=(f"/usr/bin/{name}",), user=NONROOT)
        for name in ("virt-operator", "virt-api", "virt-controller")
    ]


def image_ref(component: str) -> str:
    """The name virt-operator gives a component's image: <its own prefix>/<component>:<its own tag>."""
    return OFFLINE.image(component)


def build_binaries(status: Status) -> Path:
    """Every KubeVirt command (cached), the container-disk helper beside them; returns their folder."""
    built = gobuild.build(KUBEVIRT, status).out_dir
    build_container_disk(status)
    return built


def build_plain_images(built: Path, status: Status) -> list[str]:
    return [build_image(spec, status) for spec in plain_image_specs(built)]


def virtctl() -> Path:
    """The offline build's virtctl, else the online path's (TOOLS)."""
    return (KUBEVIRT if KUBEVIRT.built() else TOOLS).binary("virtctl")


def build_tools(status: Status) -> Path:
    """virtctl and the manifest templator for the online path: the full build's if there, else TOOLS."""
    if KUBEVIRT.built():
        return KUBEVIRT.out_dir
    return gobuild.build(TOOLS, status).out_dir


# --- manifests -------------------------------------------------------------------------------------


def templator_variables(release: Release, included: Path, logo: Path) -> list[str]:
    """The templator's second pass (--process-vars), as upstream's hack/build-manifests.sh gives it."""
    return [
        f"--namespace={NAMESPACE}",
        f"--container-prefix={release.prefix}",
        f"--container-tag={release.tag}",
        "--image-pull-policy=IfNotPresent",
        "--verbosity=2",
        # Read whatever the manifest (for the OLM bundle): give it the module's logo.
        f"--kubevirt-logo-path={logo}",
        f"--input-file={included}",
    ]


def operator_image(operator_yaml: str) -> tuple[str, str | None]:
    """The virt-operator Deployment's image and its KUBEVIRT_VERSION, from a rendered operator manifest."""
    for doc in yaml.safe_load_all(operator_yaml):
        if doc and doc.get("kind") == "Deployment" and doc["metadata"]["name"] == "virt-operator":
            container = doc["spec"]["template"]["spec"]["containers"][0]
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            return container["image"], env.get("KUBEVIRT_VERSION")
    raise KubedefisError("the rendered operator manifest has no virt-operator Deployment")


def render_manifests(built: Path, release: Release = OFFLINE) -> tuple[str, str]:
    """kubevirt-operator.yaml and kubevirt-cr.yaml as upstream renders them, for `release`'s images.

    Upstream's hack/build-manifests.sh runs the templator twice: first it inlines the generated
    manifests (CRD, RBAC), then it fills the variables. The operator's image is
    <prefix>/virt-operator:<tag>, and the operator names every other image the same way
    (kubedefis/virt-api:v1.7.0 offline, quay.io/kubevirt/virt-api:v1.7.0 online): hence `Release`.
    (The templator's per-image flags would not help: v1.7.0 renders the operator's Deployment before
    reading them.) The result is checked: the operator runs `release`'s image of this version.
    """
    templator = built / "manifest-templator"
    source = module_dir() / "manifests"
    rendered = []
    for name in ("kubevirt-operator.yaml.in", "kubevirt-cr.yaml.in"):
        with tempfile.TemporaryDirectory(dir=paths.work_dir()) as tmp:
            included = Path(tmp) / name
            included.write_text(
                run(
                    [
                        str(templator),
                        "--process-files",
                        f"--generated-manifests-dir={source / 'generated'}/",
                        f"--input-file={source / 'release' / name}",
                    ]
                ).stdout
            )
            variables = templator_variables(release, included, module_dir() / "assets/kubevirt_logo.png")
            rendered.append(run([str(templator), "--process-vars", *variables]).stdout)
    operator, cr = rendered
    image, version = operator_image(operator)
    if (image, version) != (release.image("virt-operator"), release.tag):
        raise KubedefisError(
            f"the rendered operator runs {image} (KUBEVIRT_VERSION {version}), not {release.image('virt-operator')}"
        )
    return operator, cr


# --- KVM or emulation --------------------------------------------------------------------------------

PVM_MODULE = Path("/sys/module/kvm_pvm")


def kvm_usable(cpuinfo: str, dev_kvm: bool, pvm_loaded: bool) -> tuple[bool, str]:
    """Whether KubeVirt's KVM guests can run on this node's kernel, and why.

    /dev/kvm alone is not enough: on a PVM host (kvm_pvm, no vmx/svm in the CPU flags) libvirt's
    probes succeed, but QEMU aborts with `-cpu host` and the guest kernel stops with other models.
    KubeVirt then needs `useEmulation: true` (QEMU's TCG). The kind node shares the host's kernel,
    so the host's flags are the node's.
    """
    if not dev_kvm:
        return False, "no /dev/kvm"
    if pvm_loaded:
        return False, "/dev/kvm comes from the PVM module (kvm_pvm), which runs only PVM-aware guest kernels"
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    if not flags & {"vmx", "svm"}:
        return False, "the CPU shows no hardware virtualisation (vmx/svm)"
    return True, "/dev/kvm with hardware virtualisation"


def detect_kvm() -> tuple[bool, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    return kvm_usable(cpuinfo, Path("/dev/kvm").exists(), PVM_MODULE.exists())
