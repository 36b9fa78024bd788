"""`kubedefis doctor`: what `make up` (and `make test`) need on this machine, checked by capability.

Not "is the package docker.io installed" but "does a Docker-compatible engine answer", whatever
installed it (docker-ce, docker.io, moby-engine, Docker Desktop, colima, Podman's socket). Each
check says OK, WARN or MISSING, what it found, and how to get what is missing on *this* system
(Debian/Ubuntu, Fedora, WSL 2, macOS). The exit status is 1 when something required is missing.

Three layers, so the decisions are unit-testable without Docker:
- the probes (`gather` and the `probe_*` functions) run the commands and read the files, once;
- `diagnose(facts)` turns their outcome into checks: a pure function of typed facts;
- `render` and `main` print the report.

Standard library only (and the two stdlib-only modules `core.paths`, `core.versions`): the Makefile runs it
with the system Python before the virtualenv exists (`python3 -m kubedefis.localcluster.doctor`), and asks it
which Debian packages provide what is missing (`--apt-packages`).
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubedefis.core import paths, versions
from kubedefis.core.errors import KubedefisError

PYTHON_MINIMUM = (3, 11)
# helm v3.22.0's go.mod says `go 1.26.0`, and kubedefis builds with GOTOOLCHAIN=local.
GO_MINIMUM = (1, 26)
# The tools every path builds with Go (`kubedefis cluster build-tools`); the offline path builds the rest too.
PINNED_TOOLS: Mapping[str, str] = {"kind": versions.KIND, "helm": versions.HELM, "kubeconform": versions.KUBECONFORM}
NODE_REPOSITORY = "kubedefis/node"  # kubedefis.localcluster.nodeimage.NODE_REPOSITORY
DEFAULT_CLUSTER = "kubedefis"  # kubedefis.localcluster.provider.DEFAULT_NAME

GB = 10**9
GIB = 2**30
# Disk, measured on the Debian machine of the README (2026-11/12):
# offline, cold: ~/.cache/kubedefis 18.4 GB (Go build cache 11, modules 6.2, binaries 1.2) + images 5.5 GB.
OFFLINE_COLD_DISK = 24 * GB
# online: kind + helm + kubeconform built with Go (modules 0.46 GB, build cache 0.77 GB, binaries 0.08 GB),
# a node image (1.4 GB), the add-on images (0.55 GB), the new node's /var volume (2.0 GB): 5.3 GB measured
# here (2026-12-02), plus the stack's images and their copies in the node (not measured).
ONLINE_DISK = 8 * GB
# Kubernetes built from source where no kubectl is on PATH (measured here: 9 min 18 s on 2 cores;
# modules 0.59 GB, Go build cache 3.1 GB, binaries 0.53 GB).
KUBERNETES_BUILD_DISK = 43 * GB // 10
# the cluster alone once everything is cached (what `kubedefis cluster up` itself asks for, cluster.check_disk).
CLUSTER_DISK = 6 * GIB
# Memory of the engine (the VM's, under Docker Desktop or colima): the idle cluster measured 570-585 MiB here,
# the stack of `make up` is limited to 1.4 GiB, défi 9's peak pods to 2.7 GiB (docs/laptop.md).
MEMORY_MINIMUM = 4 * GIB
MEMORY_RECOMMENDED = 8 * GIB
CPUS_RECOMMENDED = 2
# kind's "known issues": pods fail with "too many open files" below these.
INOTIFY_WATCHES = 524288
INOTIFY_INSTANCES = 512


class Level(str, enum.Enum):  # noqa: UP042 (StrEnum: Python 3.11; this module must load on older ones to say so)
    OK = "OK"
    WARN = "WARN"
    MISSING = "MISSING"


class Family(str, enum.Enum):  # noqa: UP042
    DEBIAN = "debian"  # Debian, Ubuntu and their derivatives: apt
    FEDORA = "fedora"  # Fedora, RHEL-likes: dnf
    MACOS = "macos"
    OTHER_LINUX = "linux"
    OTHER = "other"


class Purpose(str, enum.Enum):  # noqa: UP042
    UP = "up"  # make up: the cluster and the stack
    TEST = "test"  # make test: also Graphviz and PostgreSQL (the site's tests, diagrams)


# ---------------------------------------------------------------------------------------------
# Facts: what the probes found. Every field has a neutral default so tests state only what matters.


@dataclass(frozen=True)
class Host:
    system: str = "Linux"  # platform.system()
    os_release: Mapping[str, str] = field(default_factory=dict)  # /etc/os-release
    proc_version: str = ""  # /proc/version ("microsoft" under WSL)
    euid: int = 1000  # -1 where there is none (Windows)
    machine: str = "x86_64"  # platform.machine()
    macos_version: str = ""

    @property
    def family(self) -> Family:
        if self.system == "Darwin":
            return Family.MACOS
        if self.system != "Linux":
            return Family.OTHER
        ids = {self.os_release.get("ID", "").lower(), *self.os_release.get("ID_LIKE", "").lower().split()}
        if ids & {"debian", "ubuntu"}:
            return Family.DEBIAN
        if ids & {"fedora", "rhel", "centos"}:
            return Family.FEDORA
        return Family.OTHER_LINUX

    @property
    def wsl(self) -> bool:
        return self.system == "Linux" and "microsoft" in self.proc_version.lower()

    @property
    def root(self) -> bool:
        return self.euid == 0

    @property
    def description(self) -> str:
        if self.family is Family.MACOS:
            name = f"macOS {self.macos_version}".strip()
        else:
            name = self.os_release.get("PRETTY_NAME") or self.system
        return f"{name}{' (WSL 2)' if self.wsl else ''}, {'root' if self.root else 'not root'}"


@dataclass(frozen=True)
class Engine:
    docker_cli: str | None = None  # path of `docker`
    cli_version: str = ""  # `docker -v`: "Docker version 28.2.2, ..." or "podman version 5.4.0" (podman-docker)
    info: Mapping[str, Any] | None = None  # `docker info` (JSON) when a server answered
    server: Mapping[str, Any] | None = None  # `docker version` .Server (JSON): platform and components
    error: str = ""  # why `docker info` failed
    docker_host: str = ""  # $DOCKER_HOST
    context: str = ""  # `docker context show`: "default", "desktop-linux", "colima"...
    dockerd: str | None = None  # a local daemon kubedefis can start itself (as root)
    podman: str | None = None  # path of `podman`
    podman_info: Mapping[str, Any] | None = None  # `podman info --format json`
    kind_provider: str = ""  # $KIND_EXPERIMENTAL_PROVIDER

    @property
    def answers(self) -> bool:
        return self.info is not None

    @property
    def is_podman(self) -> bool:
        components = [str(c.get("Name", "")) for c in (self.server or {}).get("Components") or []]
        platform_name = str(((self.server or {}).get("Platform") or {}).get("Name", ""))
        return (
            self.cli_version.lower().startswith("podman")
            or any("podman" in name.lower() for name in [*components, platform_name])
            or "podman" in self.docker_host.lower()
        )

    @property
    def rootless(self) -> bool:
        if self.is_podman and self.podman_info is not None:
            return bool(self.podman_info.get("host", {}).get("security", {}).get("rootless"))
        return "name=rootless" in ((self.info or {}).get("SecurityOptions") or [])

    @property
    def name(self) -> str:
        info = self.info or {}
        platform_name = str(((self.server or {}).get("Platform") or {}).get("Name", ""))
        version = str(info.get("ServerVersion", ""))
        context = self.context or str((info.get("ClientInfo") or {}).get("Context", ""))
        if self.is_podman:
            return f"Podman {version}".strip()
        if "Docker Desktop" in platform_name or info.get("OperatingSystem") == "Docker Desktop":
            return platform_name or "Docker Desktop"
        if "colima" in (context + self.docker_host + str(info.get("Name", ""))).lower():
            return f"Docker Engine {version} (colima)"
        if "+dfsg" in version:
            return f"Docker Engine {version} (Debian's docker.io)"
        return f"{platform_name or 'Docker Engine'} {version}".strip()

    @property
    def endpoint(self) -> str:
        context = self.context or str(((self.info or {}).get("ClientInfo") or {}).get("Context", ""))
        if self.docker_host:
            return f"DOCKER_HOST={self.docker_host}"
        if context and context != "default":
            return f"docker context {context!r}"
        return "the default socket"


@dataclass(frozen=True)
class Tools:
    python: tuple[int, int, int] = (3, 11, 0)
    in_venv: bool = True
    ensurepip: bool = True  # `python3 -m venv` works (Debian: the python3-venv package)
    go: str | None = None  # `go env GOVERSION`: "go1.26.8"
    cached: frozenset[str] = frozenset()  # pinned tools already built in ~/.cache/kubedefis
    on_path: frozenset[str] = frozenset()  # pinned tools on PATH at the pinned version
    kubernetes_cached: bool = False  # the Kubernetes binaries (kubectl...) built in the cache
    kubectl: str | None = None
    debootstrap: str | None = None
    gcc: str | None = None
    libc_static: bool = False  # libc.a, for `gcc -static` (pause)
    dot: str | None = None  # Graphviz
    initdb: str | None = None  # PostgreSQL server binaries, for the site's tests
    chromium: str | None = None  # a headless browser and its WebDriver, for the reports' browser tests


@dataclass(frozen=True)
class Resources:
    cache_dir: str = "~/.cache/kubedefis"
    cache_free: int | None = None  # bytes free on the cache's file system
    cache_device: int | None = None
    docker_root_free: int | None = None  # bytes free under Docker's root dir, when it is on this host
    docker_root_device: int | None = None
    engine_memory: int | None = None  # docker info MemTotal (the VM's under Docker Desktop / colima)
    engine_cpus: int | None = None
    host_cgroup: str = ""  # "2" when /sys/fs/cgroup is the unified hierarchy, "1" otherwise, "" off Linux
    inotify_watches: int | None = None
    inotify_instances: int | None = None


@dataclass(frozen=True)
class Ports:
    http: int = 8080
    https: int = 8443
    busy: frozenset[int] = frozenset()  # cannot be bound on 127.0.0.1
    ours: frozenset[int] = frozenset()  # published by our kind cluster's node container
    cluster: str = DEFAULT_CLUSTER


@dataclass(frozen=True)
class Mode:
    offline: str = "auto"  # KUBEDEFIS_OFFLINE: "1", "0" or "auto"
    node_image_override: str = ""  # KUBEDEFIS_NODE_IMAGE
    upstream_node_image: bool = False  # kindest/node:<version> already pulled
    offline_node_image: bool = False  # our node image already built

    @property
    def path(self) -> str:
        """'offline', 'online', or 'auto' (decided by `make up`: offline when kindest/node cannot be pulled)."""
        if self.node_image_override or self.offline == "1":
            return "offline"
        if self.offline == "0" or self.upstream_node_image:
            return "online"
        return "auto"


@dataclass(frozen=True)
class Facts:
    host: Host = field(default_factory=Host)
    engine: Engine = field(default_factory=Engine)
    tools: Tools = field(default_factory=Tools)
    resources: Resources = field(default_factory=Resources)
    ports: Ports = field(default_factory=Ports)
    mode: Mode = field(default_factory=Mode)


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Check:
    name: str
    level: Level
    found: str
    fix: str = ""  # how to get it on this system
    apt: tuple[str, ...] = ()  # the Debian packages that provide it (used only on Debian, as root)


@dataclass(frozen=True)
class Report:
    host: Host
    purpose: Purpose
    checks: tuple[Check, ...]

    @property
    def missing(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.level is Level.MISSING)

    @property
    def ok(self) -> bool:
        return not self.missing

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def apt_packages(self) -> tuple[str, ...]:
        """What apt may install: only on the Debian family, only as root, only for what is (or may be) missing.

        WARN checks count too: the offline build's tools are a WARN while the mode is still `auto`.
        """
        if self.host.family is not Family.DEBIAN or not self.host.root:
            return ()
        packages: list[str] = []
        for check in self.checks:
            if check.level is Level.OK:
                continue
            packages += [p for p in check.apt if p not in packages]
        return tuple(packages)


# ---------------------------------------------------------------------------------------------
# Pure checks


def _version_tuple(text: str) -> tuple[int, ...]:
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(part) for part in match.groups() if part is not None) if match else ()


def _gb(value: int) -> str:
    return f"{value / GB:.1f} GB"


def _install(host: Host, *, apt: str = "", dnf: str = "", brew: str = "", other: str = "") -> str:
    """The install command for this system; '' when none is known."""
    sudo = "" if host.root else "sudo "
    if host.family is Family.DEBIAN and apt:
        return f"{sudo}apt-get install -y {apt}"
    if host.family is Family.FEDORA and dnf:
        return f"{sudo}dnf install -y {dnf}"
    if host.family is Family.MACOS and brew:
        return f"brew install {brew}"
    return other


def check_python(facts: Facts) -> list[Check]:
    host, tools = facts.host, facts.tools
    have = ".".join(str(p) for p in tools.python)
    want = ".".join(str(p) for p in PYTHON_MINIMUM)
    checks: list[Check] = []
    if tools.python[:2] >= PYTHON_MINIMUM:
        checks.append(Check("python", Level.OK, f"Python {have} (≥ {want})"))
    else:
        fix = _install(
            host,
            apt="python3.12 python3.12-venv",
            dnf="python3.12",
            brew="python@3.12",
            other="install Python 3.12 (https://www.python.org/downloads/)",
        )
        if host.family is Family.DEBIAN:
            sudo = "" if host.root else "sudo "
            fix = f"{sudo}add-apt-repository ppa:deadsnakes/ppa (Ubuntu 22.04; Debian 12 has 3.11) && {fix}"
        checks.append(
            Check(
                "python",
                Level.MISSING,
                f"Python {have}; kubedefis needs ≥ {want}",
                f"{fix}, then: make up PYTHON=python3.12",
            )
        )
    if not tools.in_venv and not tools.ensurepip:
        checks.append(
            Check(
                "python venv",
                Level.MISSING,
                "`python3 -m venv` cannot bootstrap pip (no ensurepip)",
                _install(host, apt="python3-venv", dnf="python3", other="install your Python's venv module"),
                apt=("python3-venv",),
            )
        )
    return checks


def _engine_install_fix(host: Host) -> tuple[str, tuple[str, ...]]:
    """How to get a Docker engine on this system, and the apt package when apt is the way."""
    if host.family is Family.MACOS:
        return (
            "install Docker Desktop (https://docs.docker.com/desktop/setup/install/mac-install/) and start it, "
            "or: brew install colima docker && colima start --cpu 4 --memory 8 --disk 60",
            (),
        )
    if host.wsl:
        return (
            "Docker Desktop for Windows with WSL integration on for this distribution (Settings > Resources > "
            "WSL integration), or an engine inside the distribution: "
            + (_install(host, apt="docker.io", dnf="moby-engine") or "https://docs.docker.com/engine/install/")
            + " (with systemd=true under [boot] in /etc/wsl.conf, or started by `make up` as root)",
            ("docker.io",),
        )
    if host.family is Family.DEBIAN:
        how = _install(host, apt="docker.io")
        if not host.root:
            how += " && sudo usermod -aG docker $USER   (then log in again)"
        return f"{how}   (or Docker CE: https://docs.docker.com/engine/install/); as root `make up` does it", (
            "docker.io",
        )
    if host.family is Family.FEDORA:
        return (
            f"{_install(host, dnf='moby-engine')} && sudo systemctl enable --now docker"
            + ("" if host.root else " && sudo usermod -aG docker $USER   (then log in again)")
            + "   (or Docker CE: https://docs.docker.com/engine/install/fedora/)",
            (),
        )
    return "install Docker: https://docs.docker.com/engine/install/", ()


def _cgroup_version(facts: Facts) -> str:
    engine = facts.engine
    if engine.is_podman and engine.podman_info is not None:
        return str(engine.podman_info.get("host", {}).get("cgroupVersion", "")).lstrip("v")
    if engine.info is not None and engine.info.get("CgroupVersion"):
        return str(engine.info["CgroupVersion"])
    return facts.resources.host_cgroup


def no_engine_installed(engine: Engine) -> bool:
    """Nothing answers and no engine is installed here: no daemon, no Podman, no `docker` client aimed elsewhere.

    Then (and only then) installing an engine is the fix; on a Debian-family host, as root, apt's docker.io.
    A `docker` client alone, on its default context and socket, is no engine (Debian images ship one).
    """
    return (
        not engine.answers
        and engine.dockerd is None
        and engine.podman is None
        and not engine.docker_host
        and engine.context in ("", "default")
    )


def engine_from_apt(host: Host, engine: Engine) -> bool:
    """Whether `apt-get install docker.io` is the way to an engine here (engine.ensure_docker asks too)."""
    return host.family is Family.DEBIAN and host.root and no_engine_installed(engine)


def check_engine(facts: Facts) -> list[Check]:
    host, engine = facts.host, facts.engine
    if engine.answers:
        checks = [Check("engine", Level.OK, f"{engine.name}, answering through {engine.endpoint}")]
        if engine.is_podman:
            checks.append(_check_podman(facts))
        return checks
    reason = engine.error.strip().splitlines()[-1] if engine.error.strip() else "no answer"
    if engine.docker_cli is None and engine.podman is not None:
        fix = _install(host, apt="podman-docker", dnf="podman-docker", other="install podman's docker command")
        return [
            Check(
                "engine",
                Level.MISSING,
                f"Podman ({engine.podman}) but no `docker` command: kubedefis and its tests call `docker`",
                f"{fix}; systemctl --user enable --now podman.socket; "
                "export KIND_EXPERIMENTAL_PROVIDER=podman (kind needs it for Podman)",
            )
        ]
    # A docker command (or a daemon) is there, but nothing answers.
    if "permission denied" in engine.error.lower():
        return [
            Check(
                "engine",
                Level.MISSING,
                f"the engine refuses this user ({reason})",
                "sudo usermod -aG docker $USER, then log in again (or run as root)",
            )
        ]
    if engine.podman is not None and (engine.is_podman or not engine.dockerd):
        return [
            Check(
                "engine",
                Level.MISSING,
                f"Podman is installed but its Docker-compatible socket does not answer ({reason})",
                "systemctl --user enable --now podman.socket && "
                "export DOCKER_HOST=unix://$XDG_RUNTIME_DIR/podman/podman.sock KIND_EXPERIMENTAL_PROVIDER=podman"
                if host.family is not Family.MACOS
                else "podman machine init --cpus 4 --memory 8192 && podman machine start",
            )
        ]
    if engine.dockerd is not None and host.root and host.system == "Linux" and not engine.docker_host:
        return [
            Check(
                "engine",
                Level.WARN,
                f"dockerd ({engine.dockerd}) is installed but not running",
                "nothing to do: `make up` starts it (as root)",
            )
        ]
    if no_engine_installed(engine):
        fix, apt = _engine_install_fix(host)
        found = (
            "no Docker-compatible engine (no `docker` command)"
            if engine.docker_cli is None
            else f"`docker` ({engine.docker_cli}) but no engine behind its default socket (no dockerd)"
        )
        return [Check("engine", Level.MISSING, found, fix, apt=apt)]
    if engine.docker_host:
        fix = f"start the engine at DOCKER_HOST={engine.docker_host}, or unset DOCKER_HOST (the default socket)"
    elif host.family is Family.MACOS:
        fix = "start Docker Desktop (open -a Docker), or `colima start --cpu 4 --memory 8 --disk 60`"
    elif host.wsl and engine.dockerd is None:
        fix = "start Docker Desktop on Windows, with WSL integration on for this distribution"
    elif engine.dockerd is not None:
        fix = "sudo systemctl start docker" + (
            "   (WSL without systemd: sudo service docker start)" if host.wsl else ""
        )
    else:
        fix = (
            "start the engine this `docker` command talks to (Docker Desktop: open it; "
            "or check DOCKER_HOST / `docker context ls`)"
        )
    return [Check("engine", Level.MISSING, f"`docker` ({engine.docker_cli}) gets no answer: {reason}", fix)]


def _check_podman(facts: Facts) -> Check:
    engine = facts.engine
    notes = "kubedefis is tested on Docker; with Podman `docker` must keep answering (builds, exec)"
    if engine.podman is None:
        return Check(
            "kind provider",
            Level.MISSING,
            "the engine is Podman but there is no `podman` command: kind's Podman provider needs it",
            _install(facts.host, apt="podman", dnf="podman", brew="podman", other="install podman"),
        )
    if engine.kind_provider != "podman":
        return Check(
            "kind provider",
            Level.MISSING,
            f"the engine is Podman; KIND_EXPERIMENTAL_PROVIDER is {engine.kind_provider or 'unset'}",
            "export KIND_EXPERIMENTAL_PROVIDER=podman   (kind drives Podman only through its Podman provider)",
        )
    return Check("kind provider", Level.WARN, f"KIND_EXPERIMENTAL_PROVIDER=podman; {notes}")


def check_cgroups(facts: Facts) -> list[Check]:
    engine = facts.engine
    if not engine.answers:
        return []
    version = _cgroup_version(facts)
    info = engine.info or {}
    driver = str(info.get("CgroupDriver", "")) or "unknown driver"
    found = f"cgroup v{version or '?'} ({driver})"
    if engine.rootless:
        if version != "2":
            return [
                Check(
                    "cgroups",
                    Level.MISSING,
                    f"{found}, rootless engine: kind needs cgroup v2 to run rootless",
                    "boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1), see https://kind.sigs.k8s.io/docs/user/rootless/",
                )
            ]
        if engine.is_podman and engine.podman_info is not None:
            controllers = set(engine.podman_info.get("host", {}).get("cgroupControllers") or [])
            delegated = {"memory", "pids", "cpu"} <= controllers
        else:
            delegated = all(info.get(key, True) for key in ("MemoryLimit", "PidsLimit", "CPUShares"))
        if not delegated:
            return [
                Check(
                    "cgroups",
                    Level.MISSING,
                    f"{found}, rootless: the memory, pids and cpu controllers are not delegated to this user",
                    "systemd Delegate=yes for user@.service, see https://kind.sigs.k8s.io/docs/user/rootless/",
                )
            ]
    if info and info.get("MemoryLimit") is False:
        return [
            Check(
                "cgroups",
                Level.WARN,
                f"{found} without the memory controller: memory limits (défis 17-18, OOM kills) are not enforced",
                "enable the memory cgroup controller (kernel cmdline cgroup_enable=memory)",
            )
        ]
    if version == "1":
        return [
            Check(
                "cgroups",
                Level.WARN,
                f"{found}: Kubernetes {versions.KUBERNETES} runs on it; kind warns that cgroup v1 is deprecated",
                "",
            )
        ]
    return [Check("cgroups", Level.OK, found)]


def go_needed_for(facts: Facts) -> list[str]:
    """What `make up` must build with Go on this machine, as far as can be known before it runs."""
    tools, mode = facts.tools, facts.mode
    needs = [name for name in PINNED_TOOLS if name not in tools.cached and name not in tools.on_path]
    if mode.path == "offline" and not (mode.offline_node_image and tools.kubernetes_cached):
        needs.append("the offline cluster (Kubernetes, containerd, etcd, CoreDNS, add-ons)")
    elif mode.path != "offline" and tools.kubectl is None and not tools.kubernetes_cached:
        needs.append("kubectl (no kubectl on PATH: Kubernetes is built from source)")
    return needs


def _go_fix(host: Host) -> str:
    want = "go{}.{}".format(*GO_MINIMUM)
    if host.family is Family.MACOS:
        return "brew install go"
    tarball = f"https://go.dev/dl/ ({want}.x linux-amd64 or linux-arm64)"
    sudo = "" if host.root else "sudo "
    generic = f"download {tarball} and: {sudo}tar -C /usr/local -xzf go*.tar.gz && export PATH=$PATH:/usr/local/go/bin"
    if host.family is Family.FEDORA:
        return f"{sudo}dnf install golang (if it is older than {want}: {generic})"
    if host.family is Family.DEBIAN:
        return f"apt's golang is older than {want} on Debian 12/13: {generic} (Ubuntu: snap install go --classic)"
    return generic


def check_go(facts: Facts) -> list[Check]:
    host, tools, mode = facts.host, facts.tools, facts.mode
    needs = go_needed_for(facts)
    want = "{}.{}".format(*GO_MINIMUM)
    have = _version_tuple(tools.go or "")
    recent = bool(have) and have[:2] >= GO_MINIMUM
    if needs:
        what = ", ".join(needs)
        if tools.go and recent:
            return [Check("go", Level.OK, f"{tools.go}, to build: {what}")]
        found = f"{tools.go} is older than go{want}" if tools.go else "no `go` command"
        return [Check("go", Level.MISSING, f"{found}; needed to build: {what}", _go_fix(host))]
    if mode.path == "auto" and not mode.offline_node_image:
        if tools.go and recent:
            return [
                Check("go", Level.OK, f"{tools.go} (needed only if no registry answers: then all is built offline)")
            ]
        return [
            Check(
                "go",
                Level.WARN,
                f"{tools.go or 'no go'}: enough while kindest/node can be pulled; without a registry everything "
                f"is built from source and needs go ≥ {want}",
                _go_fix(host),
            )
        ]
    return [
        Check(
            "go",
            Level.OK,
            f"not needed: kind, helm, kubeconform{' and the cluster' if mode.path == 'offline' else ''} are cached",
        )
    ]


def check_kubectl(facts: Facts) -> list[Check]:
    tools, host = facts.tools, facts.host
    if facts.mode.path == "offline" or tools.kubectl or tools.kubernetes_cached:
        found = tools.kubectl or "built with the cluster"
        return [Check("kubectl", Level.OK, found)]
    arch = "arm64" if host.machine.lower() in ("arm64", "aarch64") else "amd64"
    official = (
        f"curl -LO https://dl.k8s.io/release/{versions.KUBERNETES}/bin/linux/{arch}/kubectl && "
        f"{'' if host.root else 'sudo '}install kubectl /usr/local/bin/"
    )
    fix = _install(host, brew="kubectl", other=official)
    return [
        Check(
            "kubectl",
            Level.WARN,
            "no kubectl on PATH: `make up` builds Kubernetes from source for it (measured: 9 min, 4.3 GB)",
            fix,
        )
    ]


def _disk_need(facts: Facts) -> tuple[int, int, str]:
    """(bytes needed now, bytes needed if the offline build happens, the figures in words)."""
    mode, tools = facts.mode, facts.tools
    if mode.path == "offline":
        if mode.offline_node_image and tools.kubernetes_cached:
            return CLUSTER_DISK, CLUSTER_DISK, f"everything is built: the cluster needs ≈ {CLUSTER_DISK // GIB} GiB"
        return OFFLINE_COLD_DISK, OFFLINE_COLD_DISK, f"the offline build peaks at ≈ {OFFLINE_COLD_DISK // GB} GB"
    cached = mode.upstream_node_image and set(PINNED_TOOLS) <= tools.cached | tools.on_path
    online = CLUSTER_DISK if cached else ONLINE_DISK
    if tools.kubectl is None and not tools.kubernetes_cached:
        online += KUBERNETES_BUILD_DISK
    words = f"online ≈ {online / GB:.0f} GB"
    if mode.path == "online":
        return online, online, words
    if mode.offline_node_image and tools.kubernetes_cached:
        return (
            min(online, CLUSTER_DISK),
            CLUSTER_DISK,
            f"the offline build is cached: the cluster ≈ {CLUSTER_DISK // GIB} GiB",
        )
    return online, OFFLINE_COLD_DISK, f"{words}; offline (no registry) ≈ {OFFLINE_COLD_DISK // GB} GB"


def check_disk(facts: Facts) -> list[Check]:
    res = facts.resources
    need, need_offline, figures = _disk_need(facts)
    if res.cache_free is None:
        return [Check("disk", Level.WARN, f"could not measure the free space for {res.cache_dir} ({figures})")]
    free = res.cache_free
    where = res.cache_dir
    if res.docker_root_free is not None:
        if res.docker_root_device == res.cache_device:
            where += " and Docker's images"
        else:
            free = min(free, res.docker_root_free)
            where += " and Docker's root dir (the smaller)"
    found = f"{_gb(free)} free for {where}; needs: {figures}"
    if free < need:
        fix = (
            "free some space (docker system prune; `make clean-cache` forgets kubedefis' builds), "
            "or point KUBEDEFIS_CACHE at a bigger disk"
        )
        return [Check("disk", Level.MISSING, found, fix)]
    if free < need_offline:
        return [Check("disk", Level.WARN, found, "enough online; the offline build would not fit")]
    return [Check("disk", Level.OK, found)]


def check_memory(facts: Facts) -> list[Check]:
    res, host, engine = facts.resources, facts.host, facts.engine
    if res.engine_memory is None:
        return []
    vm = host.family is Family.MACOS or (engine.answers and "Desktop" in engine.name) or "colima" in engine.name
    where = "the engine's VM" if vm else "the engine"
    found = f"{where}: {res.engine_memory / GIB:.1f} GiB memory, {res.engine_cpus or '?'} CPUs"
    if host.family is Family.MACOS and "colima" in engine.name:
        fix = "colima stop && colima start --cpu 4 --memory 8"
    elif vm or host.wsl:
        fix = (
            "Docker Desktop: Settings > Resources (WSL 2: memory= in %UserProfile%\\.wslconfig)"
            if host.wsl
            else "Docker Desktop: Settings > Resources > Memory / CPUs"
        )
    else:
        fix = "a machine with more memory, or close what uses it"
    if res.engine_memory < MEMORY_MINIMUM:
        return [Check("memory", Level.MISSING, f"{found}; the cluster needs ≥ {MEMORY_MINIMUM // GIB} GiB", fix)]
    if res.engine_memory < MEMORY_RECOMMENDED or (res.engine_cpus or CPUS_RECOMMENDED) < CPUS_RECOMMENDED:
        return [
            Check(
                "memory",
                Level.WARN,
                f"{found}; enough for the stack, the load défis (8, 9, 17-20) want ≥ "
                f"{MEMORY_RECOMMENDED // GIB} GiB and {CPUS_RECOMMENDED} CPUs",
                fix,
            )
        ]
    return [Check("memory", Level.OK, found)]


def check_ports(facts: Facts) -> list[Check]:
    ports, host = facts.ports, facts.host
    checks: list[Check] = []
    for port, variable in ((ports.http, "KUBEDEFIS_HTTP_PORT"), (ports.https, "KUBEDEFIS_HTTPS_PORT")):
        if port in ports.ours:
            checks.append(
                Check(f"port {port}", Level.OK, f"127.0.0.1:{port} is published by kind cluster {ports.cluster!r}")
            )
        elif port in ports.busy and not facts.engine.answers:
            checks.append(
                Check(
                    f"port {port}",
                    Level.WARN,
                    f"127.0.0.1:{port} is taken; by a kind cluster or not, the engine cannot say ({variable})",
                    "look again once the engine answers",
                )
            )
        elif port in ports.busy:
            who = (
                f"lsof -nP -iTCP:{port} -sTCP:LISTEN" if host.family is Family.MACOS else f"ss -ltnp 'sport = :{port}'"
            )
            checks.append(
                Check(
                    f"port {port}",
                    Level.MISSING,
                    f"127.0.0.1:{port} is taken by another program ({variable})",
                    f"free it (`{who}` shows who holds it) or pick another: {variable}={port + 10000} make up",
                )
            )
        else:
            checks.append(Check(f"port {port}", Level.OK, f"127.0.0.1:{port} is free ({variable})"))
    return checks


def check_inotify(facts: Facts) -> list[Check]:
    res = facts.resources
    if facts.host.system != "Linux" or res.inotify_watches is None or res.inotify_instances is None:
        return []
    if res.inotify_watches >= INOTIFY_WATCHES and res.inotify_instances >= INOTIFY_INSTANCES:
        return [
            Check(
                "inotify",
                Level.OK,
                f"max_user_watches {res.inotify_watches}, max_user_instances {res.inotify_instances}",
            )
        ]
    return [
        Check(
            "inotify",
            Level.WARN,
            f"max_user_watches {res.inotify_watches}, max_user_instances {res.inotify_instances}: "
            "pods may fail with 'too many open files' (kind's known issues)",
            f"{'' if facts.host.root else 'sudo '}sysctl fs.inotify.max_user_watches={INOTIFY_WATCHES} "
            f"fs.inotify.max_user_instances={INOTIFY_INSTANCES}",
        )
    ]


def check_offline_tools(facts: Facts) -> list[Check]:
    """debootstrap and a static C toolchain: only for the offline build, and only until it is cached."""
    mode, tools, host = facts.mode, facts.tools, facts.host
    if mode.path == "online" or (mode.offline_node_image and tools.kubernetes_cached):
        return []
    if host.system != "Linux":
        if mode.path != "offline":
            return []  # without a registry the build needs a Linux host: nothing to install here
        return [
            Check(
                "offline build",
                Level.MISSING,
                "the offline build (debootstrap, gcc -static, Linux binaries) runs on a Linux host only",
                "KUBEDEFIS_OFFLINE=0 make up (the online path), or build on a Linux machine",
            )
        ]
    level = Level.MISSING if mode.path == "offline" else Level.WARN
    suffix = "" if mode.path == "offline" else " (needed only if no registry answers: the offline build)"
    checks: list[Check] = []
    if tools.debootstrap:
        checks.append(Check("debootstrap", Level.OK, f"{tools.debootstrap} (for the offline build)"))
    if tools.gcc and tools.libc_static:
        checks.append(Check("gcc -static", Level.OK, f"{tools.gcc} and a static libc (for the offline build)"))
    if tools.debootstrap is None:
        checks.append(
            Check(
                "debootstrap",
                level,
                "no debootstrap: the offline build makes debian:trixie-slim with it" + suffix,
                _install(host, apt="debootstrap", dnf="debootstrap", other="install debootstrap"),
                apt=("debootstrap",),
            )
        )
    if tools.gcc is None or not tools.libc_static:
        checks.append(
            Check(
                "gcc -static",
                level,
                ("no gcc" if tools.gcc is None else "no static libc (libc.a)")
                + ": the pause image is built with it"
                + suffix,
                _install(host, apt="gcc libc6-dev", dnf="gcc glibc-static", other="install gcc and a static libc"),
                apt=("gcc", "libc6-dev"),
            )
        )
    return checks


def check_test_tools(facts: Facts) -> list[Check]:
    tools, host = facts.tools, facts.host
    checks = []
    if tools.dot:
        checks.append(Check("graphviz", Level.OK, tools.dot))
    else:
        checks.append(
            Check(
                "graphviz",
                Level.MISSING,
                "no `dot`: the diagram tests draw with Graphviz",
                _install(host, apt="graphviz", dnf="graphviz", brew="graphviz", other="install Graphviz"),
                apt=("graphviz",),
            )
        )
    if tools.initdb:
        checks.append(Check("postgresql", Level.OK, tools.initdb))
    else:
        checks.append(
            Check(
                "postgresql",
                Level.MISSING,
                "no PostgreSQL server binaries (initdb): the site's tests start a throwaway server",
                _install(
                    host,
                    apt="postgresql",
                    dnf="postgresql-server",
                    brew="postgresql@17",
                    other="install PostgreSQL (or set KUBEDEFIS_PG_BIN)",
                ),
                apt=("postgresql",),
            )
        )
    if tools.chromium:
        checks.append(Check("chromium", Level.OK, f"{tools.chromium} and chromedriver"))
    else:
        checks.append(
            Check(
                "chromium",
                Level.MISSING,
                "no chromium with chromedriver: the reports are tested as pages in a headless browser",
                _install(
                    host,
                    apt="chromium chromium-driver",
                    dnf="chromium chromedriver",
                    brew="--cask chromium chromedriver",
                    other="install Chromium and its chromedriver",
                ),
                apt=("chromium", "chromium-driver"),
            )
        )
    return checks


def check_path(facts: Facts) -> list[Check]:
    """Which way `make up` gets its cluster: pulled (online) or built from source (offline)."""
    mode = facts.mode
    if mode.path == "offline":
        why = "KUBEDEFIS_NODE_IMAGE is set" if mode.node_image_override else "KUBEDEFIS_OFFLINE=1"
        return [Check("path", Level.OK, f"offline ({why}): everything is built from source, then cached")]
    if mode.path == "online":
        why = "KUBEDEFIS_OFFLINE=0" if mode.offline == "0" else f"{versions.UPSTREAM_NODE_IMAGE} is already pulled"
        return [Check("path", Level.OK, f"online ({why}): upstream images, only kind, helm, kubeconform built")]
    how = "offline build already cached" if mode.offline_node_image else "else everything is built offline"
    return [Check("path", Level.OK, f"auto: online if {versions.UPSTREAM_NODE_IMAGE} can be pulled, {how}")]


def diagnose(facts: Facts, purpose: Purpose = Purpose.UP) -> Report:
    checks = [
        *check_path(facts),
        *check_python(facts),
        *check_engine(facts),
        *check_cgroups(facts),
        *check_go(facts),
        *check_kubectl(facts),
        *check_offline_tools(facts),
        *check_disk(facts),
        *check_memory(facts),
        *check_ports(facts),
        *check_inotify(facts),
    ]
    if purpose is Purpose.TEST:
        checks += check_test_tools(facts)
    return Report(host=facts.host, purpose=purpose, checks=tuple(checks))


def render(report: Report) -> str:
    mode = "make test" if report.purpose is Purpose.TEST else "make up"
    lines = [f"kubedefis doctor: {report.host.description}; what `{mode}` needs"]
    width = max(len(c.name) for c in report.checks)
    for check in report.checks:
        lines.append(f"  {check.level.value:<8} {check.name:<{width}}  {check.found}")
        if check.fix and check.level is not Level.OK:
            lines.append(f"  {'':<8} {'':<{width}}  → {check.fix}")
    if report.ok:
        lines.append(
            "Everything `make up` needs is there." if report.purpose is Purpose.UP else "Ready for `make test`."
        )
    else:
        names = ", ".join(c.name for c in report.missing)
        lines.append(f"{len(report.missing)} required: {names}. Fix them, then run `make doctor` again.")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Probes: the only part that runs commands and reads the machine.


def _run(command: Sequence[str], timeout: float = 20.0) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(list(command), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _json(command: Sequence[str]) -> tuple[Any, str]:
    proc = _run(command)
    if proc is None:
        return None, f"{command[0]} did not answer in time"
    if proc.returncode != 0:
        return None, (proc.stderr or proc.stdout).strip()
    try:
        return json.loads(proc.stdout), ""
    except ValueError:
        return None, proc.stdout.strip()


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/local/sbin:/usr/sbin:/sbin")


def probe_host() -> Host:
    os_release: dict[str, str] = {}
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep:
                os_release[key.strip()] = value.strip().strip('"')
    except OSError:
        pass
    try:
        proc_version = Path("/proc/version").read_text()
    except OSError:
        proc_version = ""
    geteuid = getattr(os, "geteuid", None)
    return Host(
        system=platform.system(),
        os_release=os_release,
        proc_version=proc_version,
        euid=geteuid() if geteuid else -1,
        machine=platform.machine(),
        macos_version=platform.mac_ver()[0],
    )


def probe_engine() -> Engine:
    docker = shutil.which("docker")
    podman = shutil.which("podman")
    cli_version = context = ""
    info: Any = None
    server: Any = None
    error = ""
    if docker:
        proc = _run([docker, "-v"])
        cli_version = proc.stdout.strip().splitlines()[0] if proc and proc.stdout.strip() else ""
        context_proc = _run([docker, "context", "show"], timeout=10)
        context = context_proc.stdout.strip() if context_proc and context_proc.returncode == 0 else ""
        info, error = _json([docker, "info", "--format", "{{json .}}"])
        if isinstance(info, dict) and (info.get("ServerErrors") or not info.get("ServerVersion")):
            error = "; ".join(info.get("ServerErrors") or ["the server did not answer"])
            info = None
        if info is not None:
            server, _ = _json([docker, "version", "--format", "{{json .Server}}"])
    podman_info: Any = None
    if podman:
        podman_info, _ = _json([podman, "info", "--format", "json"])
    return Engine(
        docker_cli=docker,
        cli_version=cli_version,
        info=info if isinstance(info, dict) else None,
        server=server if isinstance(server, dict) else None,
        error=error,
        docker_host=os.environ.get("DOCKER_HOST", ""),
        context=context,
        dockerd=_which("dockerd"),
        podman=podman,
        podman_info=podman_info if isinstance(podman_info, dict) else None,
        kind_provider=os.environ.get("KIND_EXPERIMENTAL_PROVIDER", ""),
    )


def tool_on_path(name: str, version: str) -> Path | None:
    """`name` on PATH when it reports exactly `version` (kind, helm, kubeconform), else None."""
    found = shutil.which(name)
    if not found:
        return None
    commands = {"kind": ["version"], "helm": ["version", "--template", "{{.Version}}"], "kubeconform": ["-v"]}
    proc = _run([found, *commands.get(name, ["--version"])], timeout=10)
    if proc is None or proc.returncode != 0:
        return None
    return Path(found) if version in proc.stdout.split() else None


def _libc_static() -> bool:
    for pattern in ("/usr/lib/*/libc.a", "/usr/lib/libc.a", "/usr/lib64/libc.a"):
        if list(Path("/").glob(pattern.lstrip("/"))):
            return True
    return False


def _initdb() -> str | None:
    configured = os.environ.get("KUBEDEFIS_PG_BIN")
    candidates = [configured] if configured else []
    candidates += sorted((str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")), reverse=True)
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return str(Path(candidate) / "initdb")
    return shutil.which("initdb")


def probe_tools() -> Tools:
    bin_dir = paths.bin_dir()
    cached = frozenset(name for name, v in PINNED_TOOLS.items() if (bin_dir / f"{name}-{v}" / ".complete").exists())
    on_path = frozenset(name for name, v in PINNED_TOOLS.items() if name not in cached and tool_on_path(name, v))
    go = shutil.which("go")
    go_version = None
    if go:
        proc = _run([go, "env", "GOVERSION"], timeout=20)
        go_version = proc.stdout.strip() if proc and proc.returncode == 0 else None
    try:
        import ensurepip  # noqa: F401

        has_ensurepip = True
    except ImportError:
        has_ensurepip = False
    return Tools(
        python=(sys.version_info.major, sys.version_info.minor, sys.version_info.micro),
        in_venv=sys.prefix != sys.base_prefix,
        ensurepip=has_ensurepip,
        go=go_version,
        cached=cached,
        on_path=on_path,
        kubernetes_cached=(bin_dir / f"kubernetes-{versions.KUBERNETES}" / ".complete").exists(),
        kubectl=shutil.which("kubectl"),
        debootstrap=_which("debootstrap"),
        gcc=shutil.which("gcc"),
        libc_static=_libc_static(),
        dot=shutil.which("dot"),
        initdb=_initdb(),
        chromium=shutil.which("chromedriver") and (shutil.which("chromium") or shutil.which("chromium-browser")),
    )


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


def probe_resources(engine: Engine) -> Resources:
    cache = _existing(paths.cache_root())
    usage = shutil.disk_usage(cache)
    info = engine.info or {}
    root_free = root_device = None
    docker_root = Path(str(info.get("DockerRootDir", "")))
    local = engine.answers and not engine.docker_host.startswith(("tcp:", "ssh:")) and "Desktop" not in engine.name
    if local and str(docker_root) not in ("", ".") and docker_root.exists():
        with contextlib.suppress(OSError):
            root_free, root_device = shutil.disk_usage(docker_root).free, docker_root.stat().st_dev
    cgroup = Path("/sys/fs/cgroup")
    host_cgroup = ("2" if (cgroup / "cgroup.controllers").exists() else "1") if cgroup.is_dir() else ""
    return Resources(
        cache_dir=str(paths.cache_root()).replace(os.path.expanduser("~"), "~", 1),
        cache_free=usage.free,
        cache_device=cache.stat().st_dev,
        docker_root_free=root_free,
        docker_root_device=root_device,
        engine_memory=int(info["MemTotal"]) if info.get("MemTotal") else None,
        engine_cpus=int(info["NCPU"]) if info.get("NCPU") else None,
        host_cgroup=host_cgroup if platform.system() == "Linux" else "",
        inotify_watches=_read_int("/proc/sys/fs/inotify/max_user_watches"),
        inotify_instances=_read_int("/proc/sys/fs/inotify/max_user_instances"),
    )


def _port_busy(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def probe_ports(engine: Engine) -> Ports:
    http = int(os.environ.get("KUBEDEFIS_HTTP_PORT", "8080"))
    https = int(os.environ.get("KUBEDEFIS_HTTPS_PORT", "8443"))
    cluster = os.environ.get("KUBEDEFIS_CLUSTER", DEFAULT_CLUSTER)
    ours: set[int] = set()
    if engine.answers and engine.docker_cli:
        proc = _run([engine.docker_cli, "port", f"{cluster}-control-plane"], timeout=10)
        for line in (proc.stdout if proc and proc.returncode == 0 else "").splitlines():
            # "80/tcp -> 127.0.0.1:8080"
            match = re.search(r":(\d+)\s*$", line)
            if match:
                ours.add(int(match.group(1)))
    busy = frozenset(port for port in (http, https) if port not in ours and _port_busy(port))
    return Ports(http=http, https=https, busy=busy, ours=frozenset(ours & {http, https}), cluster=cluster)


def probe_mode(engine: Engine) -> Mode:
    forced = os.environ.get("KUBEDEFIS_OFFLINE", "auto").lower()
    offline = "1" if forced in ("1", "true", "yes") else "0" if forced in ("0", "false", "no") else "auto"
    upstream = built = False
    if engine.answers and engine.docker_cli:
        proc = _run([engine.docker_cli, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"], timeout=20)
        refs = proc.stdout.split() if proc and proc.returncode == 0 else []
        upstream = versions.UPSTREAM_NODE_IMAGE in refs
        built = any(ref.startswith(f"{NODE_REPOSITORY}:{versions.KUBERNETES}-") for ref in refs)
    return Mode(
        offline=offline,
        node_image_override=os.environ.get("KUBEDEFIS_NODE_IMAGE", ""),
        upstream_node_image=upstream,
        offline_node_image=built,
    )


def gather() -> Facts:
    engine = probe_engine()
    return Facts(
        host=probe_host(),
        engine=engine,
        tools=probe_tools(),
        resources=probe_resources(engine),
        ports=probe_ports(engine),
        mode=probe_mode(engine),
    )


# ---------------------------------------------------------------------------------------------
# Command line: `kubedefis doctor` (through cli.py's register) and `python -m kubedefis.localcluster.doctor`.


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--for",
        dest="purpose",
        choices=[p.value for p in Purpose],
        default=Purpose.UP.value,
        help="what to check for: `make up` (default) or `make test` (also Graphviz, PostgreSQL)",
    )
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    parser.add_argument(
        "--apt-packages",
        action="store_true",
        help="print only the Debian packages providing what is missing (empty unless Debian-family and root)",
    )


def run(args: argparse.Namespace) -> int:
    report = diagnose(gather(), Purpose(args.purpose))
    if args.apt_packages:
        print(" ".join(report.apt_packages()))
        return 0
    if args.json:
        payload = {
            "host": report.host.description,
            "ok": report.ok,
            "checks": [{"name": c.name, "level": c.level.value, "found": c.found, "fix": c.fix} for c in report.checks],
        }
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        print(render(report))
    return report.exit_code


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add `kubedefis doctor` to the kubedefis command line."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "doctor", help="check what `make up` / `make test` need on this machine, and say how to get what is missing"
    )
    add_arguments(parser)
    parser.set_defaults(func=_command)
    return parser


def _command(args: argparse.Namespace, status: object) -> None:

    if run(args) != 0:
        raise KubedefisError("required prerequisites are missing (above)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubedefis doctor", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
