"""`kubedefis doctor`'s decisions, from faked probe outcomes (no Docker, no network)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

import pytest

from kubedefis.core.errors import KubedefisError
from kubedefis.localcluster import doctor
from kubedefis.localcluster.doctor import (
    GIB,
    Check,
    Engine,
    Facts,
    Family,
    Host,
    Level,
    Mode,
    Ports,
    Purpose,
    Resources,
    Tools,
)

DEBIAN_ROOT = Host(os_release={"ID": "debian", "PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)"}, euid=0)
UBUNTU_USER = Host(os_release={"ID": "ubuntu", "ID_LIKE": "debian", "PRETTY_NAME": "Ubuntu 24.04.1 LTS"}, euid=1000)
UBUNTU_WSL = dataclasses.replace(
    UBUNTU_USER, proc_version="Linux version 5.15.167.4-microsoft-standard-WSL2 (root@f9c826d3017f)"
)
FEDORA_USER = Host(os_release={"ID": "fedora", "PRETTY_NAME": "Fedora Linux 42 (Workstation Edition)"}, euid=1000)
MACOS = Host(system="Darwin", machine="arm64", macos_version="15.1", euid=501)

DOCKER_CE_INFO: dict[str, Any] = {
    "ServerVersion": "28.3.0",
    "CgroupVersion": "2",
    "CgroupDriver": "systemd",
    "MemTotal": 16 * GIB,
    "NCPU": 4,
    "SecurityOptions": ["name=seccomp,profile=builtin", "name=cgroupns"],
    "ClientInfo": {"Context": "default"},
}
DOCKER_CE = Engine(
    docker_cli="/usr/bin/docker",
    cli_version="Docker version 28.3.0, build 38b7060",
    info=DOCKER_CE_INFO,
    server={"Platform": {"Name": "Docker Engine - Community"}, "Components": [{"Name": "Engine"}]},
    dockerd="/usr/bin/dockerd",
)
DOCKER_DESKTOP_MAC = Engine(
    docker_cli="/usr/local/bin/docker",
    cli_version="Docker version 28.3.2, build 578ccf6",
    info={
        "ServerVersion": "28.3.2",
        "OperatingSystem": "Docker Desktop",
        "CgroupVersion": "2",
        "CgroupDriver": "cgroupfs",
        "MemTotal": 8 * GIB,
        "NCPU": 4,
        "ClientInfo": {"Context": "desktop-linux"},
    },
    server={"Platform": {"Name": "Docker Desktop 4.43.2 (199162)"}, "Components": [{"Name": "Engine"}]},
)
PODMAN_ROOTLESS_INFO = {
    "host": {"cgroupVersion": "v2", "cgroupControllers": ["cpu", "memory", "pids"], "security": {"rootless": True}}
}
PODMAN_SOCKET = Engine(
    docker_cli="/usr/bin/docker",
    cli_version="Docker version 28.3.0, build 38b7060",
    info={"ServerVersion": "5.4.0", "MemTotal": 16 * GIB, "NCPU": 4, "SecurityOptions": ["name=rootless"]},
    server={"Platform": {"Name": ""}, "Components": [{"Name": "Podman Engine", "Version": "5.4.0"}]},
    docker_host="unix:///run/user/1000/podman/podman.sock",
    podman="/usr/bin/podman",
    podman_info=PODMAN_ROOTLESS_INFO,
)
EVERYTHING_CACHED = Tools(
    python=(3, 12, 3),
    go="go1.26.8",
    cached=frozenset(doctor.PINNED_TOOLS),
    kubectl="/usr/local/bin/kubectl",
    debootstrap="/usr/sbin/debootstrap",
    gcc="/usr/bin/gcc",
    libc_static=True,
    dot="/usr/bin/dot",
    initdb="/usr/lib/postgresql/17/bin/initdb",
    chromium="/usr/bin/chromium",
)
ROOMY = Resources(
    cache_free=200 * 10**9,
    cache_device=1,
    docker_root_free=200 * 10**9,
    docker_root_device=1,
    engine_memory=16 * GIB,
    engine_cpus=4,
    host_cgroup="2",
    inotify_watches=524288,
    inotify_instances=512,
)


def facts(**changes: Any) -> Facts:
    """A healthy Debian laptop (Docker CE answering, all cached, online), with `changes` applied."""
    base = Facts(
        host=DEBIAN_ROOT,
        engine=DOCKER_CE,
        tools=EVERYTHING_CACHED,
        resources=ROOMY,
        ports=Ports(),
        mode=Mode(offline="0"),
    )
    return dataclasses.replace(base, **changes)


def by_name(report: doctor.Report, name: str) -> Check:
    return next(check for check in report.checks if check.name == name)


def test_healthy_machine_passes() -> None:
    report = doctor.diagnose(facts())
    assert report.ok and report.exit_code == 0, doctor.render(report)
    assert all(check.level is Level.OK for check in report.checks), doctor.render(report)


# --- the engine, by capability -----------------------------------------------------------------


def test_docker_ce_without_the_docker_io_package_installs_nothing() -> None:
    """Docker CE (GitHub's runners, most laptops) answers: no second engine, no apt at all."""
    report = doctor.diagnose(facts(), Purpose.TEST)
    engine = by_name(report, "engine")
    assert engine.level is Level.OK
    assert "Docker Engine - Community 28.3.0" in engine.found
    assert report.apt_packages() == ()
    assert not any("docker.io" in check.fix or "docker.io" in check.apt for check in report.checks)


def test_docker_desktop_on_linux_without_dockerd_installs_nothing() -> None:
    desktop = dataclasses.replace(DOCKER_DESKTOP_MAC, docker_cli="/usr/bin/docker")
    report = doctor.diagnose(facts(engine=desktop))
    assert by_name(report, "engine").level is Level.OK
    assert "Docker Desktop 4.43.2" in by_name(report, "engine").found
    assert report.apt_packages() == ()


def test_no_engine_on_debian_as_root_suggests_apt() -> None:
    report = doctor.diagnose(facts(engine=Engine()))
    engine = by_name(report, "engine")
    assert engine.level is Level.MISSING
    assert "apt-get install -y docker.io" in engine.fix and "sudo" not in engine.fix
    assert report.apt_packages() == ("docker.io",)
    assert report.exit_code == 1


def test_no_engine_on_ubuntu_as_a_user_says_sudo_and_apt_is_not_run() -> None:
    report = doctor.diagnose(facts(host=UBUNTU_USER, engine=Engine()))
    engine = by_name(report, "engine")
    assert engine.level is Level.MISSING
    assert "sudo apt-get install -y docker.io" in engine.fix and "usermod -aG docker" in engine.fix
    assert report.apt_packages() == ()  # not root: the Makefile installs nothing


def test_stopped_dockerd_as_root_is_started_by_make_up_not_reinstalled() -> None:
    stopped = Engine(
        docker_cli="/usr/bin/docker", dockerd="/usr/sbin/dockerd", error="Cannot connect to the Docker daemon"
    )
    report = doctor.diagnose(facts(engine=stopped))
    assert by_name(report, "engine").level is Level.WARN
    assert report.ok and report.apt_packages() == ()


def test_stopped_engine_as_a_user_says_how_to_start_it() -> None:
    stopped = Engine(
        docker_cli="/usr/bin/docker", dockerd="/usr/bin/dockerd", error="Cannot connect to the Docker daemon"
    )
    engine = by_name(doctor.diagnose(facts(host=FEDORA_USER, engine=stopped)), "engine")
    assert engine.level is Level.MISSING and "sudo systemctl start docker" in engine.fix


def test_permission_denied_says_docker_group() -> None:
    denied = dataclasses.replace(
        DOCKER_CE,
        info=None,
        server=None,
        error="permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock",
    )
    engine = by_name(doctor.diagnose(facts(host=UBUNTU_USER, engine=denied)), "engine")
    assert engine.level is Level.MISSING and "usermod -aG docker" in engine.fix


def test_macos_without_engine_suggests_docker_desktop_or_colima() -> None:
    report = doctor.diagnose(facts(host=MACOS, engine=Engine()))
    engine = by_name(report, "engine")
    assert engine.level is Level.MISSING
    assert "Docker Desktop" in engine.fix and "colima start" in engine.fix
    assert "apt" not in engine.fix and report.apt_packages() == ()


def test_macos_with_docker_desktop_stopped_says_start_it() -> None:
    stopped = Engine(
        docker_cli="/usr/local/bin/docker", context="desktop-linux", error="Cannot connect to the Docker daemon at ..."
    )
    engine = by_name(doctor.diagnose(facts(host=MACOS, engine=stopped)), "engine")
    assert engine.level is Level.MISSING and "open -a Docker" in engine.fix


def test_docker_client_alone_on_debian_root_gets_the_daemon_from_apt() -> None:
    """This machine's fresh state: a `docker` client in /usr/local/bin, no daemon: apt's docker.io provides one."""
    client_only = Engine(
        docker_cli="/usr/local/bin/docker", context="default", error="Cannot connect to the Docker daemon at unix://"
    )
    report = doctor.diagnose(facts(engine=client_only))
    assert by_name(report, "engine").level is Level.MISSING
    assert report.apt_packages() == ("docker.io",)
    assert doctor.engine_from_apt(DEBIAN_ROOT, client_only)


def test_a_client_aimed_elsewhere_is_never_given_a_second_engine() -> None:
    desktop_stopped = Engine(docker_cli="/usr/bin/docker", context="desktop-linux", error="Cannot connect")
    remote = Engine(docker_cli="/usr/bin/docker", docker_host="tcp://10.0.0.5:2376", error="Cannot connect")
    for engine in (desktop_stopped, remote, DOCKER_CE, Engine(podman="/usr/bin/podman")):
        report = doctor.diagnose(facts(engine=engine))
        assert report.apt_packages() == (), engine
        assert not doctor.engine_from_apt(DEBIAN_ROOT, engine)
    assert "DOCKER_HOST=tcp://10.0.0.5:2376" in by_name(doctor.diagnose(facts(engine=remote)), "engine").fix


def test_macos_docker_desktop_answering_is_ok_and_memory_is_the_vms() -> None:
    resources = dataclasses.replace(ROOMY, engine_memory=8 * GIB, engine_cpus=4, docker_root_free=None)
    report = doctor.diagnose(facts(host=MACOS, engine=DOCKER_DESKTOP_MAC, resources=resources))
    assert by_name(report, "engine").level is Level.OK
    assert "VM" in by_name(report, "memory").found
    assert report.ok, doctor.render(report)


def test_fedora_without_engine_suggests_dnf() -> None:
    report = doctor.diagnose(facts(host=FEDORA_USER, engine=Engine()))
    engine = by_name(report, "engine")
    assert engine.level is Level.MISSING
    assert "sudo dnf install -y moby-engine" in engine.fix and "apt" not in engine.fix
    assert report.apt_packages() == ()


def test_wsl_without_engine_suggests_docker_desktop_integration() -> None:
    assert UBUNTU_WSL.wsl and UBUNTU_WSL.family is Family.DEBIAN
    engine = by_name(doctor.diagnose(facts(host=UBUNTU_WSL, engine=Engine())), "engine")
    assert engine.level is Level.MISSING and "WSL integration" in engine.fix


# --- Podman --------------------------------------------------------------------------------------


def test_podman_socket_needs_kind_experimental_provider() -> None:
    report = doctor.diagnose(facts(host=FEDORA_USER, engine=PODMAN_SOCKET))
    assert by_name(report, "engine").level is Level.OK
    assert "Podman 5.4.0" in by_name(report, "engine").found
    provider = by_name(report, "kind provider")
    assert provider.level is Level.MISSING and "KIND_EXPERIMENTAL_PROVIDER=podman" in provider.fix
    assert by_name(report, "cgroups").level is Level.OK  # rootless, v2, controllers delegated


def test_podman_with_the_provider_set_passes_with_a_warning() -> None:
    engine = dataclasses.replace(PODMAN_SOCKET, kind_provider="podman")
    report = doctor.diagnose(facts(host=FEDORA_USER, engine=engine))
    assert by_name(report, "kind provider").level is Level.WARN
    assert report.ok, doctor.render(report)


def test_podman_docker_shim_is_detected_from_docker_v() -> None:
    shim = dataclasses.replace(PODMAN_SOCKET, cli_version="podman version 5.4.0", docker_host="", server=None)
    assert shim.is_podman


def test_rootless_podman_without_delegated_controllers_is_missing() -> None:
    info = {"host": {"cgroupVersion": "v2", "cgroupControllers": ["memory", "pids"], "security": {"rootless": True}}}
    engine = dataclasses.replace(PODMAN_SOCKET, podman_info=info, kind_provider="podman")
    cgroups = by_name(doctor.diagnose(facts(host=FEDORA_USER, engine=engine)), "cgroups")
    assert cgroups.level is Level.MISSING and "Delegate=yes" in cgroups.fix


def test_rootless_on_cgroup_v1_is_missing() -> None:
    info = {"host": {"cgroupVersion": "v1", "cgroupControllers": [], "security": {"rootless": True}}}
    engine = dataclasses.replace(PODMAN_SOCKET, podman_info=info, kind_provider="podman")
    assert by_name(doctor.diagnose(facts(host=FEDORA_USER, engine=engine)), "cgroups").level is Level.MISSING


def test_podman_installed_socket_not_started() -> None:
    engine = Engine(docker_cli="/usr/bin/docker", podman="/usr/bin/podman", error="Cannot connect to the Docker daemon")
    check = by_name(doctor.diagnose(facts(host=FEDORA_USER, engine=engine)), "engine")
    assert check.level is Level.MISSING and "podman.socket" in check.fix


def test_podman_without_docker_command() -> None:
    engine = Engine(podman="/usr/bin/podman")
    check = by_name(doctor.diagnose(facts(host=FEDORA_USER, engine=engine)), "engine")
    assert check.level is Level.MISSING and "dnf install -y podman-docker" in check.fix


# --- cgroups -------------------------------------------------------------------------------------


def test_cgroup_v1_is_a_warning_only() -> None:
    info = {**DOCKER_CE_INFO, "CgroupVersion": "1", "CgroupDriver": "cgroupfs"}
    report = doctor.diagnose(facts(engine=dataclasses.replace(DOCKER_CE, info=info)))
    assert by_name(report, "cgroups").level is Level.WARN and report.ok


def test_rootless_docker_on_cgroup_v1_is_missing() -> None:
    info = {**DOCKER_CE_INFO, "CgroupVersion": "1", "SecurityOptions": ["name=rootless"]}
    engine = dataclasses.replace(DOCKER_CE, info=info)
    assert by_name(doctor.diagnose(facts(engine=engine)), "cgroups").level is Level.MISSING


# --- Python, Go, kubectl -----------------------------------------------------------------------


def test_python_too_old_on_ubuntu() -> None:
    report = doctor.diagnose(facts(host=UBUNTU_USER, tools=dataclasses.replace(EVERYTHING_CACHED, python=(3, 10, 12))))
    python = by_name(report, "python")
    assert python.level is Level.MISSING and "3.10.12" in python.found
    assert "deadsnakes" in python.fix and "PYTHON=python3.12" in python.fix
    assert report.exit_code == 1


@pytest.mark.parametrize(
    ("host", "expected"), [(MACOS, "brew install python@3.12"), (FEDORA_USER, "sudo dnf install -y python3.12")]
)
def test_python_too_old_fix_per_system(host: Host, expected: str) -> None:
    tools = dataclasses.replace(EVERYTHING_CACHED, python=(3, 9, 6))
    assert expected in by_name(doctor.diagnose(facts(host=host, tools=tools)), "python").fix


def test_python_without_venv_module_on_debian_root_gets_python3_venv() -> None:
    tools = dataclasses.replace(EVERYTHING_CACHED, in_venv=False, ensurepip=False)
    report = doctor.diagnose(facts(tools=tools))
    assert by_name(report, "python venv").level is Level.MISSING
    assert report.apt_packages() == ("python3-venv",)


def test_go_is_needed_only_to_build_what_is_missing() -> None:
    no_go = dataclasses.replace(EVERYTHING_CACHED, go=None)
    assert by_name(doctor.diagnose(facts(tools=no_go)), "go").level is Level.OK  # online, all cached
    uncached = dataclasses.replace(no_go, cached=frozenset({"kind"}))
    go = by_name(doctor.diagnose(facts(tools=uncached)), "go")
    assert go.level is Level.MISSING and "helm" in go.found and "kubeconform" in go.found
    on_path = dataclasses.replace(uncached, on_path=frozenset({"helm", "kubeconform"}))
    assert by_name(doctor.diagnose(facts(tools=on_path)), "go").level is Level.OK


def test_go_too_old_for_helm() -> None:
    old = dataclasses.replace(EVERYTHING_CACHED, go="go1.24.4", cached=frozenset())
    go = by_name(doctor.diagnose(facts(tools=old)), "go")
    assert go.level is Level.MISSING and "older than go1.26" in go.found


def test_offline_mode_needs_go_and_the_offline_tools() -> None:
    tools = dataclasses.replace(EVERYTHING_CACHED, go=None, debootstrap=None)
    report = doctor.diagnose(facts(tools=tools, mode=Mode(offline="1")))
    assert by_name(report, "go").level is Level.MISSING
    assert by_name(report, "debootstrap").level is Level.MISSING
    assert "debootstrap" in report.apt_packages()


def test_auto_mode_installs_offline_tools_on_debian_root_but_does_not_fail_on_them() -> None:
    tools = dataclasses.replace(EVERYTHING_CACHED, debootstrap=None, gcc=None)
    report = doctor.diagnose(facts(tools=tools, mode=Mode()))
    assert by_name(report, "debootstrap").level is Level.WARN
    assert report.ok
    assert report.apt_packages() == ("debootstrap", "gcc", "libc6-dev")


def test_online_mode_needs_no_offline_tools() -> None:
    tools = dataclasses.replace(EVERYTHING_CACHED, debootstrap=None, gcc=None)
    report = doctor.diagnose(facts(tools=tools))
    assert not any(check.name in ("debootstrap", "gcc -static") for check in report.checks)
    assert report.apt_packages() == ()


def test_no_kubectl_online_means_building_kubernetes() -> None:
    tools = dataclasses.replace(EVERYTHING_CACHED, kubectl=None, go=None)
    report = doctor.diagnose(facts(host=MACOS, tools=tools))
    assert by_name(report, "kubectl").level is Level.WARN
    assert "brew install kubectl" in by_name(report, "kubectl").fix
    assert by_name(report, "go").level is Level.MISSING


# --- disk, memory, ports -------------------------------------------------------------------------


def test_disk_figures_depend_on_the_path() -> None:
    tight = dataclasses.replace(ROOMY, cache_free=20 * 10**9, docker_root_free=20 * 10**9)
    assert by_name(doctor.diagnose(facts(resources=tight)), "disk").level is Level.OK  # online
    assert by_name(doctor.diagnose(facts(resources=tight, mode=Mode())), "disk").level is Level.WARN  # auto
    offline = by_name(doctor.diagnose(facts(resources=tight, mode=Mode(offline="1"))), "disk")
    assert offline.level is Level.MISSING and "24 GB" in offline.found


def test_disk_takes_the_smaller_of_two_file_systems() -> None:
    split = dataclasses.replace(ROOMY, docker_root_free=3 * 10**9, docker_root_device=2)
    assert by_name(doctor.diagnose(facts(resources=split)), "disk").level is Level.MISSING


def test_small_colima_vm_is_missing_memory() -> None:
    colima = dataclasses.replace(
        DOCKER_DESKTOP_MAC, info={"ServerVersion": "27.4.0", "Name": "colima", "ClientInfo": {"Context": "colima"}}
    )
    colima = dataclasses.replace(colima, server={"Platform": {"Name": ""}, "Components": [{"Name": "Engine"}]})
    resources = dataclasses.replace(ROOMY, engine_memory=2 * GIB, engine_cpus=2)
    memory = by_name(doctor.diagnose(facts(host=MACOS, engine=colima, resources=resources)), "memory")
    assert memory.level is Level.MISSING and "colima start --cpu 4 --memory 8" in memory.fix


def test_ports_busy_are_missing_with_the_variable_to_move_them() -> None:
    report = doctor.diagnose(facts(ports=Ports(busy=frozenset({8080}))))
    http = by_name(report, "port 8080")
    assert http.level is Level.MISSING and "KUBEDEFIS_HTTP_PORT=18080" in http.fix
    assert by_name(report, "port 8443").level is Level.OK
    assert report.exit_code == 1


def test_ports_held_by_our_own_cluster_are_fine() -> None:
    report = doctor.diagnose(facts(ports=Ports(ours=frozenset({8080, 8443}))))
    assert by_name(report, "port 8080").level is Level.OK and "kind cluster" in by_name(report, "port 8080").found
    assert report.ok


def test_low_inotify_limits_warn() -> None:
    low = dataclasses.replace(ROOMY, inotify_watches=8192, inotify_instances=128)
    check = by_name(doctor.diagnose(facts(resources=low)), "inotify")
    assert check.level is Level.WARN and "max_user_instances=512" in check.fix


# --- make test's extra needs, rendering, command line --------------------------------------------


def test_make_test_needs_graphviz_postgresql_and_chromium_from_apt_on_debian_root() -> None:
    tools = dataclasses.replace(EVERYTHING_CACHED, dot=None, initdb=None, chromium=None)
    assert doctor.diagnose(facts(tools=tools), Purpose.UP).ok
    report = doctor.diagnose(facts(tools=tools), Purpose.TEST)
    assert report.apt_packages() == ("graphviz", "postgresql", "chromium", "chromium-driver")
    on_mac = doctor.diagnose(facts(host=MACOS, tools=tools), Purpose.TEST)
    assert "brew install postgresql@17" in by_name(on_mac, "postgresql").fix


def test_host_families() -> None:
    assert Host(os_release={"ID": "linuxmint", "ID_LIKE": "ubuntu debian"}).family is Family.DEBIAN
    assert Host(os_release={"ID": "rocky", "ID_LIKE": "rhel centos fedora"}).family is Family.FEDORA
    assert Host(os_release={"ID": "arch"}).family is Family.OTHER_LINUX
    assert MACOS.family is Family.MACOS and not MACOS.wsl


def test_render_shows_each_missing_thing_and_its_fix() -> None:
    old_python = dataclasses.replace(EVERYTHING_CACHED, python=(3, 10, 12))
    report = doctor.diagnose(facts(tools=old_python, ports=Ports(busy=frozenset({8443}))))
    text = doctor.render(report)
    assert "MISSING  python" in text and "→ add-apt-repository ppa:deadsnakes/ppa" in text
    assert "KUBEDEFIS_HTTPS_PORT=18443" in text
    assert text.splitlines()[-1].startswith("2 required: python, port 8443")


def test_command_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(doctor, "gather", lambda: facts(engine=Engine()))
    assert doctor.main(["--apt-packages"]) == 0
    assert capsys.readouterr().out.strip() == "docker.io"
    assert doctor.main(["--json"]) == 1
    assert '"level": "MISSING"' in capsys.readouterr().out
    parser = argparse.ArgumentParser()
    doctor.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["doctor", "--for", "test"])
    with pytest.raises(KubedefisError, match="missing"):
        args.func(args, None)


def test_macos_is_not_asked_for_the_offline_build_tools() -> None:
    tools = dataclasses.replace(EVERYTHING_CACHED, debootstrap=None, gcc=None)
    auto = doctor.diagnose(facts(host=MACOS, engine=DOCKER_DESKTOP_MAC, tools=tools, mode=Mode()))
    assert not any(check.name in ("debootstrap", "gcc -static") for check in auto.checks)
    forced = doctor.diagnose(facts(host=MACOS, engine=DOCKER_DESKTOP_MAC, tools=tools, mode=Mode(offline="1")))
    assert by_name(forced, "offline build").level is Level.MISSING


def test_a_busy_port_is_only_a_warning_while_the_engine_cannot_say_whose() -> None:
    report = doctor.diagnose(
        facts(engine=Engine(docker_cli="/usr/bin/docker", context="x"), ports=Ports(busy=frozenset({8080})))
    )
    assert by_name(report, "port 8080").level is Level.WARN
