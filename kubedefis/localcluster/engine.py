"""A working Docker engine: installed from apt, started without systemd, able to run kind nodes.

kind's nodes are privileged containers. On hosts whose capability bounding set
lacks a capability Docker asks for, runc refuses them; we then register our
runc wrapper (runc_capfilter.py) as dockerd's default runtime.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from kubedefis.core.errors import KubedefisError
from kubedefis.core.shell import Status, run
from kubedefis.core.waits import Check, wait_for
from kubedefis.localcluster import doctor

WRAPPER_PATH = Path("/usr/local/lib/kubedefis/runc-capfilter")
DAEMON_JSON = Path("/etc/docker/daemon.json")
DOCKERD_LOG = Path("/var/log/kubedefis-dockerd.log")
RUNTIME_NAME = "kubedefis-runc"
FULL_CAPABILITY_MASK = (1 << 41) - 1


def docker_responds() -> bool:
    if not shutil.which("docker"):
        return False
    proc = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True)
    return proc.returncode == 0


def bounding_set_is_full() -> bool:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            return int(line.split()[1], 16) & FULL_CAPABILITY_MASK == FULL_CAPABILITY_MASK
    return True


def ensure_docker(status: Status) -> None:
    """Make `docker` talk to a daemon that can run privileged containers, or say why not."""
    if docker_responds():
        return
    if os.geteuid() != 0:
        raise KubedefisError(
            "no Docker engine answers and kubedefis is not root: start yours "
            "(`make doctor` says how on this system), or run as root so kubedefis can install and start one"
        )
    if not shutil.which("dockerd"):
        # Debian's docker.io only where it is the way: a Debian-family host with no engine installed at all.
        # Docker Desktop, colima, Podman, a remote DOCKER_HOST or docker context: start that one instead.
        if not doctor.engine_from_apt(doctor.probe_host(), doctor.probe_engine()):
            raise KubedefisError(
                "no Docker engine answers `docker info`; installing Debian's docker.io is not the way here "
                "(another engine or client is set up, or this is no Debian-family host): "
                "`make doctor` says what to start or install on this system"
            )
        with status.step("Installing docker.io from apt"):
            run(["apt-get", "update", "-qq"], env={"DEBIAN_FRONTEND": "noninteractive"})
            run(
                ["apt-get", "install", "-y", "-qq", "docker.io"],
                env={"DEBIAN_FRONTEND": "noninteractive"},
            )
    with status.step("Starting dockerd"):
        configure_daemon()
        start_dockerd()


def configure_daemon() -> None:
    """Write daemon.json; with a reduced bounding set, route containers through the wrapper."""
    config: dict[str, object] = {}
    if DAEMON_JSON.exists():
        try:
            config = json.loads(DAEMON_JSON.read_text() or "{}")
        except ValueError as exc:
            raise KubedefisError(f"{DAEMON_JSON} is not valid JSON: {exc}") from exc
    if not bounding_set_is_full():
        WRAPPER_PATH.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(__file__).with_name("runc_capfilter.py"), WRAPPER_PATH)
        WRAPPER_PATH.chmod(0o755)
        runtimes = dict(config.get("runtimes") or {})  # type: ignore[call-overload]
        runtimes[RUNTIME_NAME] = {"path": str(WRAPPER_PATH)}
        config["runtimes"] = runtimes
        config["default-runtime"] = RUNTIME_NAME
    DAEMON_JSON.parent.mkdir(parents=True, exist_ok=True)
    DAEMON_JSON.write_text(json.dumps(config, indent=2) + "\n")


def start_dockerd(timeout: float = 60.0) -> None:
    log = DOCKERD_LOG.open("ab")
    proc = subprocess.Popen(
        ["dockerd"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )

    def log_tail() -> str:
        return "\n".join(DOCKERD_LOG.read_text(errors="replace").splitlines()[-15:])

    def responds() -> Check[None]:
        return Check(docker_responds(), state="docker info fails")

    def exited(check: Check[None]) -> str | None:
        return f"dockerd exited with {proc.returncode}" if proc.poll() is not None else None

    wait_for("dockerd to answer", responds, timeout=timeout, interval=0.5, evidence=log_tail, fail_fast=exited)


def check_privileged_containers(image: str) -> None:
    """Fail early, with the reason, when privileged containers cannot start (kind needs them)."""
    proc = subprocess.run(["docker", "run", "--rm", "--privileged", "--entrypoint", "true", image], capture_output=True)
    if proc.returncode != 0:
        raise KubedefisError(
            "docker cannot run privileged containers, which kind's nodes are:\n"
            + proc.stderr.decode(errors="replace").strip()
        )
