"""Défi 21's waits fail as soon as the evidence is conclusive, and not before (no cluster needed).

- sshd refusing the tenant's key fails the wait at once, but only after cloud-init said it finished
  on the serial console (before that, the user and the key may simply not be there yet);
- an SSH Service with no ready endpoint fails the banner's wait once the VMI has been Ready for
  ENDPOINTS_AFTER_READY (a Ready VMI's pod is Ready: the Service selects nothing), not before.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pytest

from kubedefis.core import paths
from kubedefis.core.errors import CommandError
from kubedefis.core.waits import WaitTimeout


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("defi21_module", paths.REPO_ROOT / "conformance/test_defi21.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


d21 = _load()

# As the guest's serial console shows it (2026-12-03): kernel and getty lines interleave with cloud-init's.
BOOTING = """\
[   76.583905] cloud-init[449]: Cloud-init v. 25.1.4 running 'init-local' at Thu, 03 Dec 2026 07:40:00 +0000. \
Up 76.01 seconds.[   76.676562] hrtimer: interrupt took 16251444 ns
[   84.310990] cloud-init[449]: Cloud-init v. 25.1.4 running 'init' at Thu, 03 Dec 2026 07:40:08 +0000. \
Up 84.22 seconds.
[  101.689647] cloud-init[449]: Cloud-init v. 25.1.4 running 'modules:final' at Thu, 03 Dec 2026 07:40:25 +0000. \
Up 101.07 seconds.
"""
FINISHED = BOOTING + (
    "\nDebian GNU/Linux 13 vm1 ttyS0\n\n"
    "vm1 login: [  105.583119] cloud-init[449]: Cloud-init v. 25.1.4 finished at Thu, 03 Dec 2026 07:40:29 +0000. "
    "Datasource DataSourceNoCloud [seed=/dev/vdc].  Up 105.39 seconds\n"
    "[  106.091863] cloud-init[449]: +----[SHA256]-----+\n"
)
DENIED = "debian@172.18.0.2: Permission denied (publickey).\n"


def ssh_error(stderr: str) -> CommandError:
    return CommandError(["ssh", "-p", "30022", "debian@172.18.0.2", "id -un"], 255, stderr)


def test_cloud_init_s_last_line_is_read_on_the_console():
    assert d21.cloud_init_finished(BOOTING) is None
    assert d21.cloud_init_finished("") is None
    line = d21.cloud_init_finished(FINISHED)
    assert line is not None and "finished at" in line and line.startswith("vm1 login: [  105.583119]")
    assert "running 'modules:final'" in d21.cloud_init_state(BOOTING)
    assert d21.cloud_init_state("") == "no cloud-init line on the serial console yet"


@dataclass
class FakeGuest:
    """What the waits read from the cluster, scripted: console text, Ready age, endpoints."""

    consoles: list[str] = field(default_factory=lambda: [FINISHED])
    ready_for: float | None = 120.0
    endpoints: int = 0
    service: str = "vm1-ssh"
    namespace: str = "u-test"
    vm: str = "vm1"

    def console(self) -> str:
        return self.consoles.pop(0) if len(self.consoles) > 1 else self.consoles[0]

    def console_tail(self, lines: int = 15) -> str:
        return "console tail"

    def ready_since(self) -> float | None:
        return self.ready_for

    def ready_endpoints(self) -> int:
        return self.endpoints

    def selection(self) -> str:
        return "Service vm1-ssh selects {'app.kubernetes.io/name': 'no-such-vm'}"


def _refusing_ssh(monkeypatch: pytest.MonkeyPatch, calls: list[str]) -> None:
    def refuse(key: Path, address: str, port: int, command: str) -> str:
        calls.append(command)
        raise ssh_error(DENIED)

    monkeypatch.setattr(d21, "ssh", refuse)


def test_a_refused_key_fails_at_once_after_cloud_init_finished(monkeypatch):
    calls: list[str] = []
    _refusing_ssh(monkeypatch, calls)
    with pytest.raises(WaitTimeout, match="refuses the tenant's key although cloud-init has finished") as raised:
        d21.wait_ssh(Path("/k"), "172.18.0.2", 30022, "id -un", 300, FakeGuest())
    assert len(calls) == 1  # no second attempt: nothing will change
    assert "Permission denied" in str(raised.value)
    assert "console tail" in str(raised.value)


def test_a_refused_key_is_waited_for_while_cloud_init_runs(monkeypatch):
    calls: list[str] = []
    _refusing_ssh(monkeypatch, calls)
    monkeypatch.setattr("kubedefis.core.waits.time.sleep", lambda s: None)
    guest = FakeGuest(consoles=[BOOTING, BOOTING, FINISHED])
    with pytest.raises(WaitTimeout, match="cloud-init has finished"):
        d21.wait_ssh(Path("/k"), "172.18.0.2", 30022, "id -un", 60, guest)
    assert len(calls) == 3  # two refusals before cloud-init's end, then the conclusive one


def test_other_ssh_failures_are_waited_out(monkeypatch):
    def unreachable(key: Path, address: str, port: int, command: str) -> str:
        raise ssh_error("ssh: connect to host 172.18.0.2 port 30022: Connection refused\n")

    monkeypatch.setattr(d21, "ssh", unreachable)
    with pytest.raises(WaitTimeout, match="timed out after 0s") as raised:
        d21.wait_ssh(Path("/k"), "172.18.0.2", 30022, "id -un", 0.01, FakeGuest())
    assert "Connection refused" in str(raised.value)


def test_ssh_timeouts_are_a_state_not_a_crash(monkeypatch):
    answers = iter([subprocess.TimeoutExpired(["ssh"], 120), "debian\n"])

    def slow_then_fine(key: Path, address: str, port: int, command: str) -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(d21, "ssh", slow_then_fine)
    monkeypatch.setattr("kubedefis.core.waits.time.sleep", lambda s: None)
    assert d21.wait_ssh(Path("/k"), "172.18.0.2", 30022, "id -un", 60, FakeGuest()) == "debian\n"


def _closed(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(address: str, port: int) -> str:
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(d21, "banner", refused)
    monkeypatch.setattr("kubedefis.core.waits.time.sleep", lambda s: None)


def test_a_service_without_endpoints_fails_once_the_vmi_has_been_ready_long_enough(monkeypatch):
    _closed(monkeypatch)
    guest = FakeGuest(ready_for=d21.ENDPOINTS_AFTER_READY + 1)
    with pytest.raises(WaitTimeout, match="still has no ready endpoint") as raised:
        d21.wait_banner("172.18.0.2", 30022, 300, guest)
    assert "no-such-vm" in str(raised.value)


@pytest.mark.parametrize(
    ("ready_for", "endpoints"),
    [(None, 0), (1.0, 0), (d21.ENDPOINTS_AFTER_READY + 1, 1)],
    ids=["vmi-not-ready", "ready-just-now", "endpoint-there-guest-booting"],
)
def test_a_closed_port_is_waited_out_while_the_evidence_is_not_conclusive(monkeypatch, ready_for, endpoints):
    _closed(monkeypatch)
    with pytest.raises(WaitTimeout, match="timed out after 0s") as raised:
        d21.wait_banner("172.18.0.2", 30022, 0.01, FakeGuest(ready_for=ready_for, endpoints=endpoints))
    assert "Connection refused" in str(raised.value)


def test_the_banner_is_returned_when_sshd_answers(monkeypatch):
    monkeypatch.setattr(d21, "banner", lambda address, port: "SSH-2.0-OpenSSH_10.0p2 Debian-7")
    assert d21.wait_banner("172.18.0.2", 30022, 10, FakeGuest(endpoints=1)).startswith("SSH-2.0-OpenSSH")


def _service(name: str, *ports: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": {"ports": list(ports)}}


def test_the_ssh_service_is_found_by_the_port_it_reaches_not_the_one_it_exposes():
    # A group exposing SSH on 2222 (targetPort 22) is graded like ours (port 22, no targetPort).
    web = _service("web", {"port": 80, "targetPort": 8080})
    theirs = _service("vm-ssh", {"port": 2222, "targetPort": 22})
    assert d21.ssh_service_of([web, theirs])["metadata"]["name"] == "vm-ssh"
    assert d21.ssh_service_of([web, _service("ours", {"port": 22})])["metadata"]["name"] == "ours"
    assert d21.ssh_service_of([_service("named", {"port": 2200, "targetPort": "ssh"})])["metadata"]["name"] == "named"
    with pytest.raises(AssertionError, match="no Service to the guest's SSH"):
        d21.ssh_service_of([web, _service("wrong", {"port": 22, "targetPort": 2222})])


# D21.6: the copies of the hand-in's VM that a quota must refuse.


def _handin_vm() -> dict:
    return d21.vm_of(d21.handin_objects(paths.REPO_ROOT / "defis"))


def test_an_extra_vm_runs_nowhere_and_leaves_the_tenants_disk_and_services_alone():
    vm = _handin_vm()
    extra = d21.extra_vm(vm, "quota-extra-0")
    spec = extra["spec"]["template"]["spec"]
    assert extra["metadata"] == {"name": "quota-extra-0"}
    assert extra["spec"]["runStrategy"] == "Always"  # started: its launcher pod is counted by pod quotas
    assert spec["nodeSelector"] == d21.NO_NODE
    assert not [v for v in spec["volumes"] if "persistentVolumeClaim" in v]
    assert [d["name"] for d in spec["domain"]["devices"]["disks"]] == [v["name"] for v in spec["volumes"]]
    # not selected by the tenant's SSH Service
    assert extra["spec"]["template"]["metadata"]["labels"] == {"kubedefis.io/quota-check": "quota-extra-0"}
    assert extra["spec"].get("instancetype") == vm["spec"].get("instancetype")  # the same size
    assert vm == _handin_vm()  # the hand-in's VM itself is untouched


@dataclass
class FakeEvent:
    type: str
    message: str


class FakeKube:
    """The API as D21.6 reads it: launcher pods, the VM's and VMI's conditions, Warning events."""

    def __init__(self, pods: int = 0, conditions: dict[str, list[dict]] | None = None, events=()) -> None:
        self.pods, self.conditions, self.events = pods, conditions or {}, list(events)
        self.core, self.custom = self, self

    def list_namespaced_pod(self, namespace, label_selector):
        pod = type("Pod", (), {"metadata": type("Meta", (), {"deletion_timestamp": None})()})()
        return type("List", (), {"items": [pod] * self.pods})()

    def get_namespaced_custom_object(self, group, version, namespace, plural, name):
        if plural not in self.conditions:
            from kubernetes.client.exceptions import ApiException

            raise ApiException(status=404)
        return {"status": {"conditions": self.conditions[plural]}}

    def list_namespaced_event(self, namespace, field_selector):
        return type("List", (), {"items": self.events})()


class FakeCluster:
    def __init__(self, kube: FakeKube) -> None:
        self.kube = kube


QUOTA_POD = (
    'failed to create virtual machine pod: pods "virt-launcher-quota-extra-0-x" is forbidden: exceeded quota: '
    "vm-hosting, requested: requests.cpu=110m, used: requests.cpu=1450m, limited: requests.cpu=1500m"
)

QUOTA_VMI = "Error creating VMI: exceeded quota: vmis, requested: count/virtualmachineinstances.kubevirt.io=1"


@pytest.mark.parametrize(
    ("kube", "done", "value"),
    [
        (FakeKube(pods=1), True, "admitted"),
        (FakeKube(conditions={"virtualmachineinstances": [{"type": "Synchronized", "message": QUOTA_POD}]}), True,
         QUOTA_POD),
        (FakeKube(conditions={"virtualmachines": []}, events=[FakeEvent("Warning", QUOTA_VMI)]), True, QUOTA_VMI),
        (FakeKube(events=[FakeEvent("Normal", "exceeded quota in a Normal event is not a refusal")]), False, None),
        (FakeKube(conditions={"virtualmachineinstances": [{"type": "Synchronized", "message": "no disk"}]}), False,
         None),
    ],
    ids=["launcher-pod-created", "pod-refused-by-quota", "vmi-refused-by-quota", "normal-event", "other-failure"],
)  # fmt: skip
def test_an_extra_vm_is_admitted_or_refused_by_a_quota_only(kube, done, value):
    check = d21.admission(FakeCluster(kube), "tenant", "quota-extra-0")
    assert (check.done, check.value) == (done, value)
    if not done:
        assert check.state  # what was said, for the wait's last state


def test_the_agent_has_reported_once_its_os_is_there_too():
    connected = {"type": "AgentConnected", "status": "True"}
    assert not d21.agent_reported_os({"status": {"conditions": [connected], "guestOSInfo": {}}})  # seen live
    assert not d21.agent_reported_os({"status": {"conditions": [], "guestOSInfo": {"id": "debian"}}})
    assert d21.agent_reported_os({"status": {"conditions": [connected], "guestOSInfo": {"id": "debian"}}})
