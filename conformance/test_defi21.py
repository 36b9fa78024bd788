"""Défi 21 — MiNET, Hosting, Mentalité, Hostile: a virtual-machine hosting service in the cluster (KubeVirt).

On our cluster the module installs KubeVirt (built offline, kubedefis.stack.kubevirt; QEMU's
emulation where KVM guests cannot run). It then plays a tenant: a namespace of its own with the
hand-in's quota (tenant.yaml), the tenant's SSH public key as the Secret `ssh-key`, the hand-in's VM
(vm.yaml: size, image, persistent disk) and its SSH Service (service.yaml). The VM is judged from
outside: the guest's serial console, its agent's report, an SSH banner through the Service on a
node's address, a command run with the tenant's key, data surviving a stop and a start, and the
quota refusing one VM too many.

Not in `tox -e ci` (a VM under emulation takes a core; the budget is full): `tox -e defi21`.
"""

from __future__ import annotations

import copy
import datetime
import re
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from kubedefis.core import kube, manifests, timeouts
from kubedefis.core.errors import CommandError, KubedefisError
from kubedefis.core.shell import Status, run
from kubedefis.core.waits import Check, wait_for
from kubedefis.harness import probes
from kubedefis.localcluster import kubevirt as kubevirt_build
from kubedefis.stack import images, kubevirt, vms

LANE = "light"  # alone in its tox env anyway
KUBEVIRT = ("kubevirt.io", "v1")
HANDIN = "defi21"
GUEST_USER = "debian"  # the image's cloud-init default user, who receives the tenant's key
CONSOLE_MARKER = " ttyS0"  # the getty's banner on the serial console: "Debian GNU/Linux 13 vm1 ttyS0"
LOGIN_PROMPT = re.compile(r"login: *$", re.MULTILINE)  # the getty's prompt, printed again on each Enter
# cloud-init's last words on the console (cloud-final prints them): the key and /data are in place.
CLOUD_INIT_FINISHED = re.compile(r"^.*Cloud-init v\. \S+ finished at .*$", re.MULTILINE)
# A Ready VMI's launcher pod is Ready: its Service lists it within seconds, unless it selects nothing.
ENDPOINTS_AFTER_READY = 30 * timeouts.SCALE
# D21.6 asks for copies of the hand-in's VM one at a time until the quota refuses one. A quota that
# still admits this many more than the hand-in's VM cannot be told from no quota by a bounded check.
EXTRA_VMS_AT_MOST = 8
# The copies' launcher pods are pinned to a node label nobody has: an admitted copy takes no CPU.
NO_NODE = {"kubedefis.io/no-such-node": "quota-check"}


def handin_objects(handin: Path) -> list[dict[str, Any]]:
    return manifests.load([handin / HANDIN])


@pytest.fixture(scope="module")
def kubevirt_installed(suite, cluster) -> float | None:
    """Our cluster: KubeVirt installed (built offline, cached), in seconds. Elsewhere: what is there."""
    if suite.target.deployed or cluster.local_spec is None:
        return None
    started = time.monotonic()
    kubevirt.install(cluster.kube, cluster.local_spec, Status(), timeouts.KUBEVIRT_INSTALL)
    return time.monotonic() - started


@pytest.fixture(scope="module")
def tenant_key(tmp_path_factory) -> Path:
    """The tenant's key pair (private key path; the public one beside it, .pub)."""
    key = tmp_path_factory.mktemp("tenant") / "id_ed25519"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "defi21-tenant", "-f", str(key)])
    return key


def vm_of(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The hand-in's VM: its first VirtualMachine (a hand-in offering several is graded on the first)."""
    vms = manifests.find(objects, "VirtualMachine")
    kinds = ", ".join(sorted({str(o.get("kind")) for o in objects})) or "nothing"
    assert vms, f"expected a VirtualMachine in the hand-in, found {kinds}"
    return vms[0]


def reaches_ssh(port: Any, target_port: Any) -> bool:
    """A Service port that reaches the guest's sshd: its target is 22 (or "ssh"), whatever number the
    group exposes it on (`port: 2222, targetPort: 22`); without a targetPort, the port is the target."""
    target = port if target_port is None else target_port
    return target in (22, "22", "ssh")


def ssh_service_of(objects: list[dict[str, Any]]) -> dict[str, Any]:
    services = [
        s
        for s in manifests.find(objects, "Service")
        if any(reaches_ssh(p.get("port"), p.get("targetPort")) for p in s["spec"].get("ports") or [])
    ]
    assert services, "the hand-in has no Service to the guest's SSH (a port with targetPort 22)"
    return services[0]


@pytest.fixture(scope="module")
def tenant(handin, cluster, namespace, kubevirt_installed, tenant_key) -> dict[str, Any]:
    """The hand-in applied as a tenant would: key Secret, quota, VM, Service; returns the objects and the time."""
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "ssh-key"},
        "stringData": {"key": tenant_key.with_suffix(".pub").read_text()},
    }
    objects = handin_objects(handin)
    manifests.apply(cluster.kubectl_command(), namespace, [secret])
    created = time.monotonic()
    manifests.apply(cluster.kubectl_command(), namespace, objects)
    return {"objects": objects, "created": created, "vm": vm_of(objects)["metadata"]["name"]}


def read_vmi(cluster, namespace: str, name: str) -> dict[str, Any]:
    return cluster.kube.custom.get_namespaced_custom_object(*KUBEVIRT, namespace, "virtualmachineinstances", name)


def vmi_state(vmi: dict[str, Any]) -> str:
    status = vmi.get("status", {})
    conditions = ", ".join(f"{c['type']}={c['status']}" for c in status.get("conditions", []))
    return f"phase {status.get('phase', 'none')} ({conditions or 'no conditions'})"


def condition(vmi: dict[str, Any], kind: str) -> bool:
    return any(c["type"] == kind and c["status"] == "True" for c in vmi.get("status", {}).get("conditions", []))


def agent_reported_os(vmi: dict[str, Any]) -> bool:
    return condition(vmi, "AgentConnected") and bool((vmi.get("status", {}).get("guestOSInfo") or {}).get("id"))


def wait_vmi(cluster, namespace: str, name: str, ready_when, what: str, timeout: float) -> dict[str, Any]:
    def poll() -> Check[dict[str, Any]]:
        try:
            vmi = read_vmi(cluster, namespace, name)
        except ApiException as exc:
            if exc.status == 404:
                return Check(False, state="no VirtualMachineInstance yet")
            raise
        return Check(ready_when(vmi), vmi, vmi_state(vmi))

    found = wait_for(
        f"vmi {namespace}/{name} {what}",
        poll,
        timeout=timeout,
        interval=3,
        evidence=lambda: kube.evidence(cluster.kube, namespace),
    )
    assert found is not None
    return found


def launcher_pods(cluster, namespace: str, vm: str) -> list[Any]:
    pods = cluster.kube.core.list_namespaced_pod(namespace, label_selector=f"vm.kubevirt.io/name={vm}")
    return [p for p in pods.items if p.metadata.deletion_timestamp is None]


def console_log(cluster, namespace: str, vm: str) -> str:
    """The guest's serial console, as KubeVirt's guest-console-log container streams it."""
    pods = launcher_pods(cluster, namespace, vm)
    if not pods:
        return ""
    return cluster.kube.core.read_namespaced_pod_log(pods[0].metadata.name, namespace, container="guest-console-log")


def ssh_endpoint(cluster, namespace: str, service: str) -> tuple[str, int]:
    """A node's address and the Service's NodePort: how a tenant outside the cluster reaches the VM."""
    svc = cluster.kube.core.read_namespaced_service(service, namespace)
    ports = svc.spec.ports or []
    chosen = next((p for p in ports if reaches_ssh(p.port, p.target_port)), None)
    listed = [(p.port, p.target_port) for p in ports]
    assert chosen is not None, f"Service {service} has no port to the guest's SSH (targetPort 22): ports {listed}"
    assert chosen.node_port, (
        f"Service {service} (type {svc.spec.type}) gives its SSH port no NodePort: the VM is not reachable from outside"
    )
    node = cluster.kube.core.list_node().items[0]
    address = next((a.address for a in node.status.addresses if a.type == "InternalIP"), None)
    assert address, f"node {node.metadata.name} reports no InternalIP address"
    return address, chosen.node_port


@dataclass(frozen=True)
class Guest:
    """The tenant's VM as the checks see it from the cluster: its namespace, name and SSH Service."""

    cluster: Any
    namespace: str
    vm: str
    service: str

    def console(self) -> str:
        return console_log(self.cluster, self.namespace, self.vm)

    def console_tail(self, lines: int = 15) -> str:
        try:
            tail = self.console().splitlines()[-lines:]
        except ApiException as exc:
            return f"serial console unreadable: {exc.status} {exc.reason}"
        return "last lines of the serial console:\n" + "\n".join(f"  {line}" for line in tail)

    def ready_since(self) -> float | None:
        """Seconds since the VMI's Ready condition turned True (None: not Ready)."""
        vmi = read_vmi(self.cluster, self.namespace, self.vm)
        for c in vmi.get("status", {}).get("conditions", []):
            if c["type"] == "Ready" and c["status"] == "True" and c.get("lastTransitionTime"):
                since = datetime.datetime.fromisoformat(c["lastTransitionTime"].replace("Z", "+00:00"))
                return (datetime.datetime.now(datetime.UTC) - since).total_seconds()
        return None

    def ready_endpoints(self) -> int:
        slices = self.cluster.kube.discovery.list_namespaced_endpoint_slice(
            self.namespace, label_selector=f"kubernetes.io/service-name={self.service}"
        )
        return sum(
            1
            for item in slices.items
            for endpoint in item.endpoints or []
            if endpoint.conditions is None or endpoint.conditions.ready is not False
        )

    def selection(self) -> str:
        """The Service's selector beside the launcher pods' labels: why it has, or has no, endpoints."""
        selector = self.cluster.kube.core.read_namespaced_service(self.service, self.namespace).spec.selector
        pods = {p.metadata.name: p.metadata.labels for p in launcher_pods(self.cluster, self.namespace, self.vm)}
        return f"Service {self.service} selects {selector}; the VM's launcher pods are labelled {pods}"


def cloud_init_finished(console: str) -> str | None:
    """cloud-init's last line on the serial console ("Cloud-init v. 25.1.4 finished at ..."), if it got there."""
    found = CLOUD_INIT_FINISHED.findall(console)
    return found[-1].strip() if found else None


def cloud_init_state(console: str) -> str:
    started = [line.strip() for line in console.splitlines() if "Cloud-init v." in line]
    return started[-1][-160:] if started else "no cloud-init line on the serial console yet"


def wait_cloud_init(guest: Guest, timeout: float) -> str | None:
    """cloud-init's first boot (user, key, /data) over, read on the serial console: the guest needs no
    D-Bus nor a login for it (`cloud-init status --wait` may never return in a minimal guest).

    A guest whose console never showed cloud-init (an image without it) is not waited for: None.
    """
    if "Cloud-init v." not in guest.console():
        return None

    def poll() -> Check[str]:
        console = guest.console()
        line = cloud_init_finished(console)
        return Check(line is not None, line, cloud_init_state(console))

    return wait_for(
        f"cloud-init to finish in vm {guest.namespace}/{guest.vm} (its 'finished at' line on the serial console)",
        poll,
        timeout=timeout,
        interval=3,
        evidence=guest.console_tail,
    )


def banner(address: str, port: int) -> str:
    with socket.create_connection((address, port), timeout=5) as sock:
        sock.settimeout(10)
        return sock.recv(256).decode(errors="replace").strip()


def wait_banner(address: str, port: int, timeout: float, guest: Guest) -> str:
    """The SSH banner through the Service; fails early once the VMI has been Ready for ENDPOINTS_AFTER_READY
    while its Service still has no ready endpoint (the VM's pod is Ready: the Service selects nothing)."""

    def poll() -> Check[str]:
        try:
            text = banner(address, port)
        except OSError as exc:
            return Check(False, None, f"{type(exc).__name__}: {exc}")
        return Check(text.startswith("SSH-2.0-"), text, f"answered {text[:80]!r}")

    def no_endpoints(_: Check[str]) -> str | None:
        ready = guest.ready_since()
        if ready is None or ready < ENDPOINTS_AFTER_READY or guest.ready_endpoints():
            return None
        return (
            f"the VMI has been Ready for {ready:.0f}s (more than {ENDPOINTS_AFTER_READY:.0f}s) and the Service "
            f"{guest.service} still has no ready endpoint: {guest.selection()}"
        )

    found = wait_for(
        f"an SSH banner on {address}:{port} (Service {guest.namespace}/{guest.service})",
        poll,
        timeout=timeout,
        interval=3,
        fail_fast=no_endpoints,
        evidence=lambda: f"{guest.selection()}\n{guest.console_tail()}",
    )
    assert found is not None
    return found


def ssh(key: Path, address: str, port: int, command: str) -> str:
    options = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]
    options += ["-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-i", str(key), "-p", str(port)]
    proc = subprocess.run(
        ["ssh", *options, f"{GUEST_USER}@{address}", command], capture_output=True, text=True, timeout=120
    )
    if proc.returncode != 0:
        raise CommandError(["ssh", "-p", str(port), f"{GUEST_USER}@{address}", command], proc.returncode, proc.stderr)
    return proc.stdout


def wait_ssh(key: Path, address: str, port: int, command: str, timeout: float, guest: Guest) -> str:
    """A command through SSH, again until sshd and the key (cloud-init) are in place.

    Fails at once when sshd refuses the key after cloud-init has finished: the key was never given
    to the guest, and waiting longer cannot change that.
    """

    def poll() -> Check[str]:
        try:
            return Check(True, ssh(key, address, port, command))
        except (CommandError, subprocess.TimeoutExpired) as exc:
            return Check(False, None, str(exc))

    def key_refused(check: Check[str]) -> str | None:
        if "Permission denied" not in check.state:
            return None
        finished = cloud_init_finished(guest.console())
        if finished is None:
            return None  # cloud-init may not have written the key yet
        return f"sshd refuses the tenant's key although cloud-init has finished ({finished!r})"

    found = wait_for(
        f"ssh {command!r} on {address}:{port} with the tenant's key",
        poll,
        timeout=timeout,
        interval=5,
        fail_fast=key_refused,
        evidence=guest.console_tail,
    )
    assert found is not None
    return found


@pytest.fixture(scope="module")
def running(cluster, namespace, tenant) -> dict[str, Any]:
    started = tenant["created"]
    vmi = wait_vmi(cluster, namespace, tenant["vm"], lambda v: condition(v, "Ready"), "Running and Ready",
                   timeouts.VM_READY)  # fmt: skip
    return {"vmi": vmi, "seconds": time.monotonic() - started}


@pytest.fixture(scope="module")
def guest(cluster, namespace, tenant) -> Guest:
    return Guest(cluster, namespace, tenant["vm"], ssh_service_of(tenant["objects"])["metadata"]["name"])


@pytest.fixture(scope="module")
def reachable(cluster, namespace, tenant, running, guest) -> dict[str, Any]:
    address, port = ssh_endpoint(cluster, namespace, guest.service)
    text = wait_banner(address, port, timeouts.VM_BOOT, guest)
    return {"address": address, "port": port, "banner": text, "seconds": time.monotonic() - tenant["created"]}


# --- requirements ------------------------------------------------------------------------------------


@pytest.mark.requirement("D21.1", "KubeVirt is Deployed; guests use KVM only where the node can run them")
def test_kubevirt_deployed(cluster, kubevirt_installed, record):
    cr = cluster.kube.custom.list_cluster_custom_object(*KUBEVIRT, "kubevirts")["items"]
    assert cr, "no KubeVirt object in the cluster"
    assert cr[0].get("status", {}).get("phase") == "Deployed", vmi_state(cr[0])
    if kubevirt_installed is not None:
        record("kubevirt_install_s", round(kubevirt_installed, 1))
        use_kvm, why = kubevirt_build.detect_kvm()
        developer = cr[0]["spec"].get("configuration", {}).get("developerConfiguration", {})
        assert developer.get("useEmulation", False) is (not use_kvm), why


@pytest.mark.requirement("D21.2", f"the hand-in's VM is Running and Ready within {timeouts.VM_READY:.0f}s")
def test_vm_running_and_ready(running, record):
    record("vm_ready_s", round(running["seconds"], 1))
    assert running["vmi"]["status"]["phase"] == "Running"


@pytest.mark.requirement(
    "D21.3", "the guest boots (login banner on its serial console, a login prompt on its interactive console)"
    " and its agent reports its OS",
)  # fmt: skip
def test_guest_boots_and_agent_reports(cluster, namespace, tenant, running):
    # virt-handler sets AgentConnected first and fills guestOSInfo at a later sync (session 17 read it
    # empty once, just after the condition): wait for both, then judge what the agent reported.
    vmi = wait_vmi(cluster, namespace, tenant["vm"], agent_reported_os, "agent connected, its OS reported",
                   timeouts.VM_BOOT)  # fmt: skip
    assert vmi["status"]["guestOSInfo"]["id"] == "debian", vmi["status"]["guestOSInfo"]

    def marker() -> Check[str]:
        log = console_log(cluster, namespace, tenant["vm"])
        return Check(CONSOLE_MARKER in log, log, f"{len(log)} bytes of console, last: {log[-120:]!r}")

    wait_for("the login banner on the serial console", marker, timeout=timeouts.VM_BOOT, interval=5)
    # The console a tenant opens (`virtctl console`, through virt-api and virt-handler) answers Enter:
    # the log container above reads the same port's log file, which works with no console at all.
    try:
        vms.console_prompt(cluster.kube, namespace, tenant["vm"], LOGIN_PROMPT, timeout=timeouts.CONSOLE_ANSWER)
    except KubedefisError as exc:
        pytest.fail(str(exc))


@pytest.mark.requirement(
    "D21.4", "from outside: an SSH banner through the Service, a command run with the tenant's key"
)
def test_ssh_through_the_service_with_the_tenant_key(tenant_key, reachable, guest, record):
    record("vm_create_to_ssh_banner_s", round(reachable["seconds"], 1))
    assert reachable["banner"].startswith("SSH-2.0-OpenSSH")
    out = wait_ssh(tenant_key, reachable["address"], reachable["port"], "id -un; uname -s", timeouts.VM_BOOT, guest)
    assert out.split() == [GUEST_USER, "Linux"]


@pytest.mark.disruptive
@pytest.mark.requirement(
    "D21.5", "stop leaves no launcher pod, start runs it again, the persistent disk keeps its data"
)
def test_stop_start_keeps_persistent_data(cluster, namespace, tenant, tenant_key, reachable, guest, record):
    address, port, vm = reachable["address"], reachable["port"], tenant["vm"]
    token = f"kept-{time.time_ns()}"
    wait_cloud_init(guest, timeouts.VM_BOOT)  # /data is formatted and mounted by it
    write = f"findmnt -n /data && echo {token} > /data/marker && sync"
    wait_ssh(tenant_key, address, port, write, timeouts.VM_BOOT, guest)
    virtctl = str(kubevirt_build.virtctl())
    cluster.kubectl_run("get", "vm", vm, "-n", namespace)  # the VM exists before we ask virtctl
    run([virtctl, "--kubeconfig", cluster.kubeconfig, "-n", namespace, "stop", vm])

    def stopped() -> Check[None]:
        pods = launcher_pods(cluster, namespace, vm)
        shown = cluster.kube.custom.get_namespaced_custom_object(*KUBEVIRT, namespace, "virtualmachines", vm)
        status = shown.get("status", {}).get("printableStatus")
        # The pod goes first; `virtctl start` is refused until the VM itself says Stopped.
        return Check(not pods and status == "Stopped", state=f"{status}; launcher pods: {len(pods)}")

    wait_for(f"vm {vm} Stopped, no launcher pod", stopped, timeout=timeouts.POD_READY, interval=2)
    started = time.monotonic()
    run([virtctl, "--kubeconfig", cluster.kubeconfig, "-n", namespace, "start", vm])
    wait_banner(address, port, timeouts.VM_BOOT, guest)
    record("vm_start_to_ssh_banner_s", round(time.monotonic() - started, 1))
    wait_cloud_init(guest, timeouts.VM_BOOT)  # the root disk is new at each start: cloud-init runs again
    assert wait_ssh(tenant_key, address, port, "cat /data/marker", timeouts.VM_BOOT, guest).strip() == token


def extra_vm(template: dict[str, Any], name: str) -> dict[str, Any]:
    """A copy of the hand-in's VM that runs nowhere: same size, image and quota footprint, its launcher
    pod pinned to no node, without the tenant's persistent disks (a copy must not touch their data)
    and without the labels their Services select."""
    spec = copy.deepcopy(template["spec"])
    spec.pop("dataVolumeTemplates", None)
    spec.pop("running", None)  # the older field; one of the two only
    spec["runStrategy"] = "Always"  # created and started: quotas on pods, CPU or memory count it too
    pod = spec["template"].setdefault("spec", {})
    claims = {v["name"] for v in pod.get("volumes", []) if "persistentVolumeClaim" in v or "dataVolume" in v}
    pod["volumes"] = [v for v in pod.get("volumes", []) if v["name"] not in claims]
    devices = pod.setdefault("domain", {}).setdefault("devices", {})
    devices["disks"] = [d for d in devices.get("disks", []) if d["name"] not in claims]
    pod["nodeSelector"] = {**(pod.get("nodeSelector") or {}), **NO_NODE}
    spec["template"]["metadata"] = {"labels": {"kubedefis.io/quota-check": name}}
    return {"apiVersion": template["apiVersion"], "kind": "VirtualMachine", "metadata": {"name": name}, "spec": spec}


def refusals(cluster, namespace: str, name: str) -> list[str]:
    """What KubeVirt and the API said about a VM that did not start: its and its VMI's failed
    conditions, and the warnings recorded about either (virt-controller's "Error creating pod")."""
    said = []
    for plural in ("virtualmachines", "virtualmachineinstances"):
        try:
            shown = cluster.kube.custom.get_namespaced_custom_object(*KUBEVIRT, namespace, plural, name)
        except ApiException as exc:
            if exc.status == 404:
                continue
            raise
        said += [c["message"] for c in shown.get("status", {}).get("conditions", []) if c.get("message")]
    events = cluster.kube.core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}")
    said += [e.message for e in events.items if e.type == "Warning" and e.message]
    return said


def admission(cluster, namespace: str, name: str) -> Check[str]:
    """An extra VM admitted (its launcher pod exists, Pending on no node) or refused by a quota."""
    if launcher_pods(cluster, namespace, name):
        return Check(True, "admitted", "launcher pod created")
    said = refusals(cluster, namespace, name)
    by_quota = [m for m in said if "quota" in m.lower()]
    if by_quota:
        return Check(True, by_quota[0])
    return Check(False, state="; ".join(said) or "no launcher pod yet, nothing refused")


def quotas_shown(cluster, namespace: str) -> str:
    quotas = cluster.kube.core.list_namespaced_resource_quota(namespace).items
    return "; ".join(f"{q.metadata.name} {q.spec.hard}" for q in quotas) or "no ResourceQuota"


@pytest.mark.requirement(
    "D21.6",
    f"the tenant's quota refuses one VM too many (VMs, pods or their CPU and memory; within {EXTRA_VMS_AT_MOST} more)",
)
def test_quota_refuses_one_vm_too_many(cluster, namespace, tenant, running, record):
    """Copies of the hand-in's VM are asked for one at a time until a quota refuses one, whatever it
    counts: the VMs themselves (the API refuses the VM) or their launcher pods' count, CPU or memory
    (virt-controller's pod is refused; the VM says why). Each copy is pinned to no node. The hand-in's
    VM runs first (`running`): its launcher pod is counted before any copy is asked for."""
    template = vm_of(tenant["objects"])
    asked: list[str] = []
    admitted = 0
    refusal = None
    try:
        while refusal is None and admitted <= EXTRA_VMS_AT_MOST:
            name = f"quota-extra-{len(asked)}"
            try:
                manifests.apply(cluster.kubectl_command(), namespace, [extra_vm(template, name)])
            except CommandError as exc:
                assert "quota" in str(exc).lower(), f"a copy of the hand-in's VM was refused, not by a quota: {exc}"
                refusal = str(exc)
                break
            asked.append(name)
            verdict = wait_for(
                f"extra vm {name}: launcher pod created, or refused by a quota",
                lambda name=name: admission(cluster, namespace, name),
                timeout=timeouts.VM_ADMISSION,
                interval=2,
            )
            if verdict == "admitted":
                admitted += 1
            else:
                refusal = verdict
    finally:
        if asked:
            cluster.kubectl_run("delete", "vm", *asked, "-n", namespace, "--wait=false", "--ignore-not-found")
    record("quota_extra_vms_admitted", admitted)
    assert refusal is not None, (
        f"expected a quota to refuse a VM; found {admitted} VMs admitted beyond the hand-in's, none refused "
        f"(quotas in the tenant's namespace: {quotas_shown(cluster, namespace)})"
    )
    record("quota_refusal", refusal)


@pytest.fixture(scope="module")
def other_tenant(cluster, namespace):
    """A second tenant's namespace, as the hosting service gives one (nothing applied in it)."""
    name = f"{namespace}-other"[:63]
    manifest = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"
    cluster.kubectl_run("apply", "-f", "-", input=manifest)
    yield name
    cluster.kubectl_run("delete", "namespace", name, "--wait=false", "--ignore-not-found")


@pytest.fixture(scope="module")
def probe_image(cluster) -> str:
    """An image with Python for the probe pods: the défi 1-2 page's, built here and loaded."""
    if cluster.local_spec is None:
        pytest.skip("the probe pods need an image with Python on the nodes: only on the local cluster")
    (ref,) = images.publish([images.web_nodb("v1")], "v1", Status(), into=cluster.local_spec)
    return ref


@pytest.mark.needs("create", "pods")
@pytest.mark.requirement("D21.7", "another tenant's pods cannot reach the VM, while the tenant's own pods can")
def test_other_tenant_cannot_reach_the_vm(cluster, namespace, tenant, running, probe_image, other_tenant):
    # (probe_image first: off our local cluster it skips before a second namespace is created)
    vmi = read_vmi(cluster, namespace, tenant["vm"])
    addresses = [i.get("ipAddress") for i in vmi["status"].get("interfaces", []) if i.get("ipAddress")]
    assert addresses, f"the VMI reports no address: {vmi['status'].get('interfaces')}"
    address = addresses[0]
    # The tenant's own pod: connects once sshd is up (the guest may still be booting), else the
    # isolation below would prove nothing.
    own = probes.tcp_probe(cluster.kube, namespace, probe_image, {}, address, 22, window=timeouts.VM_BOOT)
    assert own.connected, f"a pod of the tenant's own namespace does not reach {address}:22: {own.output}"
    # Another tenant: every attempt of the window must fail (kube-router rejects, other enforcers drop).
    other = probes.tcp_probe(cluster.kube, other_tenant, probe_image, {}, address, 22)
    assert not other.connected, f"a pod of {other_tenant} reached the VM at {address}:22: {other.output}"
