"""Go builds of the cluster's tools and components, from the Go module proxy only.

Three ways to build, depending on the module:
- `go install pkg@version` where the module has no replace directives;
- a generated wrapper module, where the module only works as a dependency with
  replacements (Kubernetes' staging modules) or has no main we can name (etcd);
- a copy of the module source built as the main module, where its go.mod has
  replace directives we must honour (Traefik).
Each tool lands in bin/<name>-<version>/; the folder existing is the cache stamp.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kubedefis.core import paths, versions
from kubedefis.core.errors import KubedefisError
from kubedefis.core.shell import Status, run
from kubedefis.localcluster.doctor import PINNED_TOOLS, tool_on_path


def go_env(cgo: bool = False) -> dict[str, str]:
    return {
        **paths.go_env_dirs(),
        "CGO_ENABLED": "1" if cgo else "0",
        "GOFLAGS": "-buildvcs=false -mod=mod",
        "GOTOOLCHAIN": "local",
        # A module's go.work (KubeVirt ships one pointing at ./staging, absent from the module zip)
        # would override the go.mod we build with.
        "GOWORK": "off",
        "GOPROXY": os.environ.get("GOPROXY", "https://proxy.golang.org,direct"),
    }


def module_dir(module: str, version: str) -> Path:
    """Download a module (source zip) into the module cache and return its folder."""
    proc = run(["go", "mod", "download", "-json", f"{module}@{version}"], env=go_env())
    info = json.loads(proc.stdout)
    if info.get("Error"):
        raise KubedefisError(f"cannot download {module}@{version}: {info['Error']}")
    return Path(info["Dir"])


@dataclass(frozen=True)
class GoTool:
    name: str
    module: str
    version: str
    packages: tuple[str, ...]
    how: str = "install"  # install | source
    tags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()
    cgo: bool = False
    extra_requires: tuple[str, ...] = field(default=())
    # how="source" only: `go mod edit -replace` pairs (old, new@version), for a go.mod whose replace
    # directives point into the repository at folders the module zip lacks (KubeVirt's ./staging).
    replaces: tuple[tuple[str, str], ...] = ()

    @property
    def out_dir(self) -> Path:
        return paths.bin_dir() / f"{self.name}-{self.version}"

    def binary(self, name: str | None = None) -> Path:
        return self.out_dir / (name or self.name)

    def built(self) -> bool:
        return (self.out_dir / ".complete").exists()


def _build_flags(tool: GoTool) -> list[str]:
    flags = ["-trimpath", "-ldflags", " ".join(["-s", "-w", *tool.ldflags])]
    if tool.tags:
        flags += ["-tags", ",".join(tool.tags)]
    return flags


def build(tool: GoTool, status: Status) -> GoTool:
    if tool.built():
        return tool
    if _adopt_from_path(tool, status):
        return tool
    with status.step(f"Building {tool.name} {tool.version} with Go"):
        staging = tool.out_dir.with_name(tool.out_dir.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        if tool.how == "install":
            _go_install(tool, staging)
        elif tool.how == "source":
            _go_build_source(tool, staging)
        else:
            raise KubedefisError(f"unknown build method {tool.how!r} for {tool.name}")
        _publish(staging, tool.out_dir)
    return tool


def _adopt_from_path(tool: GoTool, status: Status) -> bool:
    """kind, helm or kubeconform of the pinned version already on PATH: copy it into the cache, build nothing."""
    found = tool_on_path(tool.name, tool.version) if tool.name in PINNED_TOOLS else None
    if found is None:
        return False
    staging = tool.out_dir.with_name(tool.out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copy2(found, staging / tool.name)
    _publish(staging, tool.out_dir)
    status.info(f"{tool.name} {tool.version}: using {found} (on PATH)")
    return True


def _publish(staging: Path, final: Path) -> None:
    (staging / ".complete").write_text(datetime.datetime.now(datetime.UTC).isoformat() + "\n")
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)


def _go_install(tool: GoTool, out: Path) -> None:
    env = {**go_env(tool.cgo), "GOBIN": str(out)}
    targets = [f"{pkg}@{tool.version}" for pkg in tool.packages]
    run(["go", "install", *_build_flags(tool), *targets], env=env, quiet=False)


def _go_build_source(tool: GoTool, out: Path) -> None:
    """Build from a writable copy of the module source, so its own go.mod (replaces) applies."""
    source = module_dir(tool.module, tool.version)
    work = paths.src_dir() / f"{tool.name}-{tool.version}"
    if not (work / "go.mod").exists():
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(source, work)
        for root, dirs, files in os.walk(work):
            for name in dirs + files:
                os.chmod(os.path.join(root, name), 0o755 if name in dirs else 0o644)
    for old, new in tool.replaces:
        run(["go", "mod", "edit", f"-replace={old}={new}"], env=go_env(), cwd=work)
    run(
        ["go", "build", *_build_flags(tool), "-o", str(out) + "/", *tool.packages],
        env=go_env(tool.cgo),
        cwd=work,
        quiet=False,
    )


def build_wrapper_module(
    name: str,
    version: str,
    go_mod: str,
    packages: Sequence[str],
    *,
    status: Status,
    ldflags: Sequence[str] = (),
    tags: Sequence[str] = (),
    main_go: str | None = None,
) -> Path:
    """Build packages through a module of ours whose go.mod we generate."""
    out_dir = paths.bin_dir() / f"{name}-{version}"
    if (out_dir / ".complete").exists():
        return out_dir
    with status.step(f"Building {name} {version} with Go (wrapper module)"):
        work = paths.src_dir() / f"{name}-{version}"
        work.mkdir(parents=True, exist_ok=True)
        (work / "go.mod").write_text(go_mod)
        if main_go is not None:
            (work / "main.go").write_text(main_go)
        staging = out_dir.with_name(out_dir.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        flags = ["-trimpath", "-ldflags", " ".join(["-s", "-w", *ldflags])]
        if tags:
            flags += ["-tags", ",".join(tags)]
        if main_go is not None:
            run(["go", "mod", "tidy"], env=go_env(), cwd=work, quiet=False)
        run(["go", "build", *flags, "-o", str(staging) + "/", *packages], env=go_env(), cwd=work, quiet=False)
        _publish(staging, out_dir)
    return out_dir


# --- Kubernetes ---------------------------------------------------------------------------

KUBERNETES_COMMANDS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
    "kubelet",
    "kubeadm",
    "kubectl",
)


def kubernetes_go_mod(version: str) -> str:
    """go.mod that builds k8s.io/kubernetes as a dependency.

    Its own go.mod points every staging module (k8s.io/api, client-go, ...) at
    ./staging at v0.0.0; we point each at its published version v0.Y.Z instead.
    """
    upstream = module_dir("k8s.io/kubernetes", version) / "go.mod"
    text = upstream.read_text()
    staged = re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", text, flags=re.M)
    if not staged:
        raise KubedefisError(f"no staging replacements found in {upstream}")
    go_line = re.search(r"^go\s+(\S+)", text, flags=re.M)
    godebug = re.findall(r"^godebug\s+.*$", text, flags=re.M)
    published = "v0." + version.removeprefix("v1.")
    lines = [
        "module kubedefis.local/kubernetes",
        "",
        f"go {go_line.group(1) if go_line else '1.24.0'}",
        *godebug,
        "",
        f"require k8s.io/kubernetes {version}",
        "",
        "replace (",
        *(f"\t{mod} => {mod} {published}" for mod in staged),
        ")",
        "",
    ]
    return "\n".join(lines)


def kubernetes_ldflags(version: str) -> list[str]:
    major, minor = version.removeprefix("v").split(".")[:2]
    build_date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    values = {
        "gitVersion": version,
        "gitMajor": major,
        "gitMinor": minor,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": build_date,
    }
    flags = []
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X '{package}.{key}={value}'" for key, value in values.items()]
    return flags


def build_kubernetes(status: Status, version: str = versions.KUBERNETES) -> Path:
    return build_wrapper_module(
        "kubernetes",
        version,
        kubernetes_go_mod(version),
        [f"k8s.io/kubernetes/cmd/{cmd}" for cmd in KUBERNETES_COMMANDS],
        status=status,
        ldflags=kubernetes_ldflags(version),
        tags=("selinux", "notest"),
    )


def kubeadm_image_versions(version: str = versions.KUBERNETES) -> dict[str, str]:
    """The etcd, CoreDNS and pause tags kubeadm of this release deploys (from its constants)."""
    source = (module_dir("k8s.io/kubernetes", version) / "cmd/kubeadm/app/constants/constants.go").read_text()
    found = {}
    for key, const in (("etcd", "DefaultEtcdVersion"), ("coredns", "CoreDNSVersion"), ("pause", "PauseVersion")):
        match = re.search(rf'\b{const}\s*=\s*"([^"]+)"', source)
        if not match:
            raise KubedefisError(f"kubeadm constant {const} not found in Kubernetes {version}")
        found[key] = match.group(1)
    return found


# --- etcd -------------------------------------------------------------------------------------

ETCD_MAIN = """// etcd server entry point: the same call as upstream's main package.
package main

import (
\t"os"

\t"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
\tetcdmain.Main(os.Args)
}
"""


def build_etcd(status: Status, image_tag: str) -> Path:
    """etcd's server module has replace directives: build it through a main of ours."""
    version = "v" + image_tag.split("-")[0]
    modules = ["api/v3", "client/pkg/v3", "client/v3", "pkg/v3", "server/v3"]
    go_mod = "\n".join(
        [
            "module kubedefis.local/etcd",
            "",
            "go 1.24",
            "",
            "require (",
            *(f"\tgo.etcd.io/etcd/{mod} {version}" for mod in modules),
            ")",
            "",
        ]
    )
    ldflags = [f"-X 'go.etcd.io/etcd/api/v3/version.GitSHA={version}'"]
    return build_wrapper_module("etcd", version, go_mod, ["."], status=status, ldflags=ldflags, main_go=ETCD_MAIN)


# --- everything else ----------------------------------------------------------------------------


def simple_tools() -> list[GoTool]:
    return [
        GoTool("kind", "sigs.k8s.io/kind", versions.KIND, ("sigs.k8s.io/kind",)),
        GoTool(
            "helm",
            "helm.sh/helm/v3",
            versions.HELM,
            ("helm.sh/helm/v3/cmd/helm",),
            ldflags=(f"-X helm.sh/helm/v3/internal/version.version={versions.HELM}",),
        ),
        GoTool(
            "containerd",
            "github.com/containerd/containerd/v2",
            versions.CONTAINERD,
            (
                "github.com/containerd/containerd/v2/cmd/containerd",
                "github.com/containerd/containerd/v2/cmd/ctr",
                "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2",
            ),
            tags=("no_btrfs", "no_devmapper", "no_zfs", "no_aufs"),
            ldflags=(f"-X github.com/containerd/containerd/v2/version.Version={versions.CONTAINERD}",),
        ),
        GoTool(
            "crictl",
            "sigs.k8s.io/cri-tools",
            versions.CRICTL,
            ("sigs.k8s.io/cri-tools/cmd/crictl",),
            ldflags=(f"-X sigs.k8s.io/cri-tools/pkg/version.Version={versions.CRICTL}",),
        ),
        GoTool(
            "kube-router",
            "github.com/cloudnativelabs/kube-router/v2",
            versions.KUBE_ROUTER,
            ("github.com/cloudnativelabs/kube-router/v2/cmd/kube-router",),
            ldflags=(f"-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version={versions.KUBE_ROUTER}",),
        ),
        GoTool(
            "metrics-server",
            "sigs.k8s.io/metrics-server",
            versions.METRICS_SERVER,
            ("sigs.k8s.io/metrics-server/cmd/metrics-server",),
        ),
        GoTool(
            "local-path-provisioner",
            "github.com/rancher/local-path-provisioner",
            versions.LOCAL_PATH_PROVISIONER,
            ("github.com/rancher/local-path-provisioner",),
        ),
        GoTool(
            "traefik",
            "github.com/traefik/traefik/v3",
            versions.TRAEFIK,
            ("./cmd/traefik",),
            how="source",
            ldflags=(f"-X github.com/traefik/traefik/v3/pkg/version.Version={versions.TRAEFIK}",),
        ),
        GoTool(
            "kubeconform",
            "github.com/yannh/kubeconform",
            versions.KUBECONFORM,
            ("github.com/yannh/kubeconform/cmd/kubeconform",),
        ),
    ]


def tool(name: str) -> GoTool:
    for candidate in simple_tools():
        if candidate.name == name:
            return candidate
    raise KubedefisError(f"no Go tool named {name}")


def build_coredns(status: Status, image_tag: str) -> GoTool:
    return build(GoTool("coredns", "github.com/coredns/coredns", image_tag, ("github.com/coredns/coredns",)), status)


def build_all(status: Status) -> dict[str, Path]:
    """Build every Go artefact (cached); return name -> folder holding its binaries."""
    built: dict[str, Path] = {}
    for name in ("kind", "helm"):
        built[name] = build(tool(name), status).out_dir
    built["kubernetes"] = build_kubernetes(status)
    images = kubeadm_image_versions()
    built["etcd"] = build_etcd(status, images["etcd"])
    built["coredns"] = build_coredns(status, images["coredns"]).out_dir
    for candidate in simple_tools():
        if candidate.name not in built:
            built[candidate.name] = build(candidate, status).out_dir
    return built
