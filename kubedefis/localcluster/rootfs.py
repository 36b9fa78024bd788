"""debian:<suite>-slim made locally with debootstrap, so every `FROM debian:trixie-slim` builds offline.

Trimmed like Debian's official slim images (no apt lists or archives, docs,
man pages, locales) and imported under the official tag, so Dockerfiles run
unchanged here and upstream.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from kubedefis.core import paths, versions
from kubedefis.core.errors import KubedefisError
from kubedefis.core.shell import Status, run

MIRROR = "http://deb.debian.org/debian"

# What the official slim images leave out; dpkg is told the same for later installs.
DPKG_EXCLUDES = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
"""

APT_CLEAN = """\
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
"""


def image_exists(ref: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", ref], capture_output=True).returncode == 0


def ensure_slim_image(status: Status, suite: str = versions.DEBIAN_SUITE) -> str:
    tag = f"debian:{suite}-slim"
    if image_exists(tag):
        return tag
    if not shutil.which("debootstrap"):
        with status.step("Installing debootstrap from apt"):
            run(["apt-get", "install", "-y", "-qq", "debootstrap"], env={"DEBIAN_FRONTEND": "noninteractive"})
    target = paths.work_dir() / f"rootfs-{suite}"
    with status.step(f"Building {tag} with debootstrap (minbase)"):
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        run(["debootstrap", "--variant=minbase", suite, str(target), MIRROR], quiet=False)
        slim_down(target, suite)
        tar = subprocess.Popen(["tar", "-C", str(target), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
        run(
            ["docker", "import", "--change", 'CMD ["bash"]', "-", tag],
            input=None if tar.stdout is None else tar.stdout.read(),
        )
        if tar.wait() != 0:
            raise KubedefisError(f"tar of {target} failed")
        shutil.rmtree(target, ignore_errors=True)
    return tag


def slim_down(root: Path, suite: str) -> None:
    (root / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/dpkg/dpkg.cfg.d/docker").write_text(DPKG_EXCLUDES)
    (root / "etc/apt/apt.conf.d/docker-clean").write_text(APT_CLEAN)
    (root / "etc/apt/apt.conf.d/docker-no-recommends").write_text('APT::Install-Recommends "false";\n')
    (root / "etc/apt/sources.list").write_text(
        f"deb {MIRROR} {suite} main\ndeb {MIRROR} {suite}-updates main\n"
        f"deb http://deb.debian.org/debian-security {suite}-security main\n"
    )
    for pattern in (
        "var/lib/apt/lists/*",
        "var/cache/apt/archives/*.deb",
        "var/cache/apt/*.bin",
        "usr/share/doc/*/[!c]*",
        "usr/share/man/*",
        "usr/share/info/*",
        "var/log/*.log",
        "usr/share/locale/*",
    ):
        for path in root.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
