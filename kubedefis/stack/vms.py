"""Défi 21's hosting service as commands (`kubedefis vm`): a tenant's VMs made, listed, started, stopped, deleted.

A VM is the hand-in's (defis/defi21): its VirtualMachine, the persistent disk it mounts and its SSH
Service, renamed. The size is one of the cluster's VirtualMachineClusterInstancetypes (KubeVirt's
catalogue, which the hand-in's `u1.nano` comes from), the image one the hand-in's VM boots; the
tenant's SSH public key goes into the VM's cloud-init user data (`ssh_authorized_keys`, for the
image's default user) instead of the hand-in's `ssh-key` Secret, so that one tenant may give each
VM its own key.

Everything goes through the API (kubevirt.io/v1 VirtualMachine and VirtualMachineInstance, the core
API for the disk and the Service). Start and stop set `spec.runStrategy` (Always, Halted), as
`virtctl start|stop` does for a VM that is not on the Manual strategy. The serial console is
virtctl's (a websocket protocol of KubeVirt's): run when found, else its command line is given;
`console_prompt` speaks the same protocol to check that a VM's console answers.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import yaml
from kubernetes.client.exceptions import ApiException
from kubernetes.stream.ws_client import create_websocket
from websocket import ABNF, WebSocketException, WebSocketTimeoutException

from kubedefis.core import kube, manifests, paths, tools
from kubedefis.core.errors import KubedefisError
from kubedefis.core.waits import Check, wait_for

KUBEVIRT = ("kubevirt.io", "v1")
INSTANCETYPES = ("instancetype.kubevirt.io", "v1beta1")
CLUSTER_INSTANCETYPES = "virtualmachineclusterinstancetypes"
HANDIN = paths.REPO_ROOT / "defis/defi21"
SSH_PORT = 22
GUEST_USER = "debian"  # the guest image's cloud-init default user: the one the key is given to
# A Service name is a DNS-1035 label; the VM's name also prefixes its disk and Service (63 at most).
NAME_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# What an OpenSSH public key line starts with (ssh-keygen's types, security keys included).
KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
# printableStatus values no waiting cures (KubeVirt's VirtualMachinePrintableStatus).
HOPELESS_STATUS = {"ErrImagePull", "ImagePullBackOff", "ErrorPvcNotFound", "DataVolumeError", "CrashLoopBackOff"}

Obj = dict[str, Any]
T = TypeVar("T")


# --- the hand-in's VM as a template ------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """The hand-in's VirtualMachine, the PersistentVolumeClaims it mounts and its SSH Service."""

    vm: Obj
    claims: list[Obj]
    service: Obj
    source: Path

    @property
    def name(self) -> str:
        return str(self.vm["metadata"]["name"])

    def images(self) -> list[str]:
        """The images the VM boots (its containerDisks), in order: the image catalogue."""
        found = [v["containerDisk"]["image"] for v in _volumes(self.vm) if "containerDisk" in v]
        return list(dict.fromkeys(found))

    def longest_suffix(self) -> int:
        """How many characters the VM's name gains in its disks' and Service's names."""
        names = [c["metadata"]["name"] for c in self.claims] + [self.service["metadata"]["name"]]
        return max((len(n) - len(self.name) for n in names if n.startswith(self.name)), default=0)


def load_template(handin: Path = HANDIN) -> Template:
    """defis/defi21's VM, its claims and its SSH Service (the Service on port 22 that selects the VM)."""
    objects = manifests.load([handin])
    vms = manifests.find(objects, "VirtualMachine")
    if len(vms) != 1:
        raise KubedefisError(f"{handin}: expected one VirtualMachine to use as the template, found {len(vms)}")
    vm = vms[0]
    labels = vm["spec"].get("template", {}).get("metadata", {}).get("labels", {})
    services = [
        s
        for s in manifests.find(objects, "Service")
        if any(p.get("port") == SSH_PORT for p in s.get("spec", {}).get("ports", []))
        and manifests.selects(s["spec"].get("selector"), labels)
    ]
    if not services:
        raise KubedefisError(f"{handin}: no Service on port {SSH_PORT} selects the VM {vm['metadata']['name']}")
    claimed = {v["persistentVolumeClaim"]["claimName"] for v in _volumes(vm) if "persistentVolumeClaim" in v}
    claims = [c for c in manifests.find(objects, "PersistentVolumeClaim") if c["metadata"]["name"] in claimed]
    return Template(vm, claims, services[0], handin)


def _volumes(vm: Obj) -> list[Obj]:
    return list(vm.get("spec", {}).get("template", {}).get("spec", {}).get("volumes", []))


# --- sizes, images, keys, names -----------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    """A VirtualMachineClusterInstancetype: the guest's vCPUs and memory, and what the node must offer."""

    name: str
    cpus: int
    memory: str
    needs: tuple[str, ...] = ()

    def describe(self) -> str:
        needs = f", needs {' and '.join(self.needs)}" if self.needs else ""
        return f"{self.name} ({self.cpus} vCPU, {self.memory}{needs})"


def size_of(instancetype: Obj) -> Size:
    spec = instancetype.get("spec", {})
    cpu, memory = spec.get("cpu", {}), spec.get("memory", {})
    needs = []
    if cpu.get("dedicatedCPUPlacement"):
        needs.append("dedicated CPUs")
    if memory.get("hugepages"):
        needs.append(f"{memory['hugepages'].get('pageSize', '')} hugepages".strip())
    return Size(instancetype["metadata"]["name"], int(cpu.get("guest", 0)), str(memory.get("guest", "?")), tuple(needs))


def _size_key(name: str) -> tuple[str, int, str]:
    """u1.nano < u1.micro < u1.small < u1.medium < u1.large < u1.xlarge < u1.2xlarge ..."""
    series, _, grade = name.partition(".")
    order = ["nano", "micro", "small", "medium", "large", "xlarge"]
    if grade in order:
        return series, order.index(grade), ""
    number = re.match(r"^(\d+)xlarge$", grade)
    return (series, len(order) + int(number.group(1)), "") if number else (series, 99, grade)


def known_sizes(client: kube.Kube) -> dict[str, Size]:
    """The cluster's sizes: KubeVirt's VirtualMachineClusterInstancetypes, in catalogue order."""
    try:
        found = client.custom.list_cluster_custom_object(*INSTANCETYPES, CLUSTER_INSTANCETYPES)["items"]
    except ApiException as exc:
        if exc.status == 404:
            raise KubedefisError(
                "the cluster has no VirtualMachineClusterInstancetype API (instancetype.kubevirt.io/v1beta1): "
                "is KubeVirt installed? (`kubedefis kubevirt install`)"
            ) from exc
        raise KubedefisError(f"listing the cluster's instance types: {api_message(exc)}") from exc
    sizes = sorted((size_of(item) for item in found), key=lambda s: _size_key(s.name))
    return {s.name: s for s in sizes}


def resolve_size(known: dict[str, Size], wanted: str) -> Size:
    if wanted in known:
        return known[wanted]
    if not known:
        raise KubedefisError(
            "the cluster offers no size (no VirtualMachineClusterInstancetype: KubeVirt's common instance "
            "types are not deployed)"
        )
    _unknown("size", wanted, list(known))


def resolve_image(template: Template, wanted: str | None) -> str:
    """The image by its reference or its short name (kubedefis/guest-debian:0.1.0 or guest-debian)."""
    images = template.images()
    if not images:
        raise KubedefisError(f"{template.source}: the template VM boots no containerDisk image")
    if wanted is None:
        return images[0]
    for image in images:
        if wanted in (image, short_image_name(image)):
            return image
    _unknown("image", wanted, [f"{short_image_name(i)} ({i})" for i in images])


def short_image_name(image: str) -> str:
    """kubedefis/guest-debian:0.1.0 -> guest-debian."""
    last = image.rsplit("/", 1)[-1]
    return last.split("@", 1)[0].split(":", 1)[0]


def _unknown(what: str, wanted: str, known: list[str]) -> NoReturn:
    raise KubedefisError(f"unknown {what} {wanted!r}; known {what}s: {', '.join(known)}")


def read_public_keys(path: Path) -> list[str]:
    """The OpenSSH public keys of a file (one a line, authorized_keys style); one clear error otherwise."""
    path = path.expanduser()
    if not path.is_file():
        raise KubedefisError(f"SSH public key file {path} does not exist")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise KubedefisError(f"SSH public key file {path} is not readable text: {exc}") from exc
    if "PRIVATE KEY-----" in text:
        raise KubedefisError(f"{path} is a private key: give the public one ({path}.pub)")
    keys = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not keys:
        raise KubedefisError(f"{path} holds no SSH public key (empty)")
    for number, line in enumerate(keys, 1):
        problem = _public_key_problem(line)
        if problem:
            raise KubedefisError(f"{path}: key {number} is not an SSH public key: {problem}")
    return keys


def _public_key_problem(line: str) -> str | None:
    """Why a line is not `<type> <base64 blob> [comment]`, the blob naming the same type; None if it is."""
    parts = line.split()
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        return f"it should start with one of {', '.join(KEY_TYPES)} (got {line[:40]!r})"
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        return "its key data is not base64"
    size = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else -1
    if blob[4 : 4 + size].decode(errors="replace") != parts[0]:
        return f"its key data is not a {parts[0]} key"
    return None


def check_name(name: str, template: Template) -> None:
    longest = 63 - template.longest_suffix()
    if not NAME_RE.match(name) or len(name) > longest:
        raise KubedefisError(
            f"invalid VM name {name!r}: lower-case letters, digits and '-', starting with a letter, not ending "
            f"with '-', {longest} characters at most"
        )


# --- rendering ------------------------------------------------------------------------------------------


def _renamed(value: str, old: str, new: str) -> str:
    """A name of the template's VM family for the new VM: vm1 -> web, vm1-data -> web-data."""
    if value == old:
        return new
    return new + value[len(old) :] if value.startswith(old) else f"{new}-{value}"


def _fresh(obj: Obj, name: str) -> Obj:
    """A copy of a template object with only a name and its labels and annotations (nothing live)."""
    out = copy.deepcopy(obj)
    meta = {"name": name}
    for key in ("labels", "annotations"):
        if obj["metadata"].get(key):
            meta[key] = copy.deepcopy(obj["metadata"][key])
    out["metadata"] = meta
    out.pop("status", None)
    return out


def user_data(template_data: str, keys: list[str]) -> str:
    """The template's #cloud-config with the keys added to `ssh_authorized_keys` (the default user's)."""
    body = yaml.safe_load(template_data) if template_data.strip() else {}
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise KubedefisError("the template's cloud-init user data is not a #cloud-config mapping")
    body["ssh_authorized_keys"] = [*body.get("ssh_authorized_keys", []), *keys]
    return "#cloud-config\n" + yaml.safe_dump(body, sort_keys=False, width=1000)


def render(template: Template, name: str, size: Size, image: str, keys: list[str]) -> list[Obj]:
    """The objects of one VM: its disks, the VirtualMachine, its SSH Service (in the order they are made)."""
    old = template.name
    claims = [_fresh(c, _renamed(c["metadata"]["name"], old, name)) for c in template.claims]
    renames = {c["metadata"]["name"]: n["metadata"]["name"] for c, n in zip(template.claims, claims, strict=True)}

    vm = _fresh(template.vm, name)
    spec = vm["spec"]
    spec.pop("running", None)
    spec["runStrategy"] = "Always"
    spec["instancetype"] = {"kind": "VirtualMachineClusterInstancetype", "name": size.name}
    pod = spec.setdefault("template", {})
    labels = pod.setdefault("metadata", {}).setdefault("labels", {})
    for key, value in labels.items():
        if value == old:
            labels[key] = name
    vmi = pod.setdefault("spec", {})
    vmi.pop("accessCredentials", None)  # the hand-in's `ssh-key` Secret: the key is in the user data instead
    domain = vmi.setdefault("domain", {})
    kernel = domain.get("firmware", {}).get("kernelBoot", {}).get("container")
    if kernel:
        kernel["image"] = image  # the kernel and initrd come from the same image as the root disk
    cloud_init = None
    for volume in vmi.setdefault("volumes", []):
        if "containerDisk" in volume:
            volume["containerDisk"]["image"] = image
        elif "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]
            claim["claimName"] = renames.get(claim["claimName"], claim["claimName"])
        elif "cloudInitNoCloud" in volume:
            cloud_init = volume["cloudInitNoCloud"]
    if cloud_init is None:
        cloud_init = {}
        vmi["volumes"].append({"name": "cloudinit", "cloudInitNoCloud": cloud_init})
        domain.setdefault("devices", {}).setdefault("disks", []).append(
            {"name": "cloudinit", "disk": {"bus": "virtio"}}
        )
    if "userDataSecretRef" in cloud_init:
        raise KubedefisError(f"{template.source}: the VM's cloud-init user data is in a Secret: cannot add the key")
    if "userDataBase64" in cloud_init:
        cloud_init["userData"] = base64.b64decode(cloud_init.pop("userDataBase64")).decode()
    cloud_init["userData"] = user_data(cloud_init.get("userData", ""), keys)

    service = _fresh(template.service, _renamed(template.service["metadata"]["name"], old, name))
    selector = service["spec"].get("selector", {})
    for key, value in selector.items():
        if value == old:
            selector[key] = name
    for port in service["spec"].get("ports", []):
        port.pop("nodePort", None)  # the API gives each Service its own
    service["spec"].pop("clusterIP", None)
    service["spec"].pop("clusterIPs", None)
    return [*claims, vm, service]


# --- the cluster ----------------------------------------------------------------------------------------


def api_message(exc: ApiException) -> str:
    """The API server's own message (its Status body), else the HTTP status."""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return f"{exc.status} {exc.reason}"


def _api(what: str, call: Callable[[], T]) -> T:
    try:
        return call()
    except ApiException as exc:
        raise KubedefisError(f"{what}: {api_message(exc)}") from exc


@dataclass
class Tenant:
    """A tenant's namespace on a cluster, with KubeVirt there: what every `kubedefis vm` command acts on."""

    client: kube.Kube
    namespace: str

    def require(self) -> Tenant:
        """The namespace exists and KubeVirt's API is served; one clear error otherwise."""
        try:
            self.client.core.read_namespace(self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                raise KubedefisError(
                    f"tenant namespace {self.namespace!r} does not exist (kubectl create namespace {self.namespace}; "
                    f"kubectl apply -n {self.namespace} -f defis/defi21/tenant.yaml)"
                ) from exc
            if exc.status != 403:  # a tenant may not read namespaces: the calls below tell
                raise KubedefisError(f"reading namespace {self.namespace}: {api_message(exc)}") from exc
        try:
            self.client.custom.list_namespaced_custom_object(*KUBEVIRT, self.namespace, "virtualmachines", limit=1)
        except ApiException as exc:
            if exc.status == 404:
                raise KubedefisError(
                    "KubeVirt is not installed on this cluster (no kubevirt.io/v1 VirtualMachine API): "
                    "`kubedefis kubevirt install`"
                ) from exc
            raise KubedefisError(f"listing the VMs of {self.namespace}: {api_message(exc)}") from exc
        return self

    def vm(self, name: str) -> Obj:
        try:
            return dict(
                self.client.custom.get_namespaced_custom_object(*KUBEVIRT, self.namespace, "virtualmachines", name)
            )
        except ApiException as exc:
            if exc.status == 404:
                raise KubedefisError(f"no VM {name!r} in namespace {self.namespace}") from exc
            raise KubedefisError(f"reading vm {self.namespace}/{name}: {api_message(exc)}") from exc

    def vms(self) -> list[Obj]:
        found = _api(
            f"listing the VMs of {self.namespace}",
            lambda: self.client.custom.list_namespaced_custom_object(*KUBEVIRT, self.namespace, "virtualmachines"),
        )
        return sorted(found["items"], key=lambda v: v["metadata"]["name"])

    def find(self, plural: str, name: str) -> Obj | None:
        """The object, None if it does not exist (other API errors raised: a wait counts them as its state)."""
        try:
            return dict(self.client.custom.get_namespaced_custom_object(*KUBEVIRT, self.namespace, plural, name))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def vmi(self, name: str) -> Obj | None:
        return self.find("virtualmachineinstances", name)

    def vmis(self) -> dict[str, Obj]:
        found = _api(
            f"listing the VM instances of {self.namespace}",
            lambda: self.client.custom.list_namespaced_custom_object(
                *KUBEVIRT, self.namespace, "virtualmachineinstances"
            ),
        )
        return {v["metadata"]["name"]: v for v in found["items"]}

    def services(self) -> list[Obj]:
        ns = self.namespace
        found = _api(f"listing the Services of {ns}", lambda: self.client.core.list_namespaced_service(ns))
        return [manifests.live(s) for s in found.items]

    def node_address(self) -> str | None:
        """A node's InternalIP, where NodePorts answer (None: nodes not readable, as a tenant)."""
        try:
            nodes = self.client.core.list_node().items
        except ApiException:
            return None
        for node in nodes:
            for address in node.status.addresses or []:
                if address.type == "InternalIP":
                    return str(address.address)
        return None


def connect(kubeconfig: str | None, context: str | None, namespace: str) -> Tenant:
    return Tenant(kube.connect(kubeconfig or kube.default_kubeconfig(), context), namespace).require()


# --- reading a VM ---------------------------------------------------------------------------------------


def condition(obj: Obj | None, kind: str) -> Obj | None:
    for c in (obj or {}).get("status", {}).get("conditions", []):
        if c.get("type") == kind:
            return dict(c)
    return None


def is_ready(vmi: Obj | None) -> bool:
    ready = condition(vmi, "Ready")
    return bool(ready and ready.get("status") == "True")


def ip_of(vmi: Obj | None) -> str | None:
    for interface in (vmi or {}).get("status", {}).get("interfaces", []):
        if interface.get("ipAddress"):
            return str(interface["ipAddress"])
    return None


def ssh_services(vm: Obj, services: list[Obj], others: list[Obj] | None = None) -> list[Obj]:
    """The Services on port 22 that select this VM's pod and no other VM's (`others`)."""
    labels = vm["spec"].get("template", {}).get("metadata", {}).get("labels", {})
    found = []
    for svc in services:
        selector = svc.get("spec", {}).get("selector")
        if not any(p.get("port") == SSH_PORT for p in svc.get("spec", {}).get("ports", [])):
            continue
        if not manifests.selects(selector, labels):
            continue
        if any(
            manifests.selects(selector, o["spec"].get("template", {}).get("metadata", {}).get("labels", {}))
            for o in others or []
            if o["metadata"]["name"] != vm["metadata"]["name"]
        ):
            continue
        found.append(svc)
    return found


def node_port(service: Obj) -> int | None:
    for port in service.get("spec", {}).get("ports", []):
        if port.get("port") == SSH_PORT and port.get("nodePort"):
            return int(port["nodePort"])
    return None


@dataclass(frozen=True)
class Row:
    name: str
    status: str
    ready: str
    size: str
    ip: str
    ssh: str


def rows(vms: list[Obj], vmis: dict[str, Obj], services: list[Obj], node: str | None) -> list[Row]:
    """One line per VM: KubeVirt's status, whether its instance is Ready, size, address, SSH from outside."""
    out = []
    for vm in vms:
        name = vm["metadata"]["name"]
        vmi = vmis.get(name)
        reach = "-"
        for svc in ssh_services(vm, services, vms):
            port = node_port(svc)
            if port:
                reach = f"{node or '<node>'}:{port}"
                break
        out.append(
            Row(
                name=name,
                status=vm.get("status", {}).get("printableStatus", "-"),
                ready=("yes" if is_ready(vmi) else "no") if vmi else "-",
                size=vm["spec"].get("instancetype", {}).get("name", "-"),
                ip=ip_of(vmi) or "-",
                ssh=reach,
            )
        )
    return out


def table(found: list[Row]) -> str:
    header = Row("NAME", "STATUS", "READY", "SIZE", "IP", "SSH (node:port)")
    lines = [[getattr(r, f) for f in ("name", "status", "ready", "size", "ip", "ssh")] for r in [header, *found]]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def list_vms(tenant: Tenant) -> list[Row]:
    return rows(tenant.vms(), tenant.vmis(), tenant.services(), tenant.node_address())


# --- waits ----------------------------------------------------------------------------------------------


def vm_state(vm: Obj | None, vmi: Obj | None) -> str:
    status = "absent" if vm is None else vm.get("status", {}).get("printableStatus", "no status yet")
    if vmi is None:
        return f"vm {status}, no instance"
    conditions = ", ".join(f"{c['type']}={c['status']}" for c in vmi.get("status", {}).get("conditions", []))
    return f"vm {status}, instance {vmi.get('status', {}).get('phase', 'none')} ({conditions or 'no conditions'})"


def hopeless(vm: Obj | None, vmi: Obj | None) -> str | None:
    """Why waiting for this VM to run is pointless: an image not pulled, a quota refusing its pod..."""
    status = (vm or {}).get("status", {}).get("printableStatus")
    if status in HOPELESS_STATUS:
        return f"the VM is {status}"
    if (vmi or {}).get("status", {}).get("phase") == "Failed":
        return "the VM instance Failed"
    synced = condition(vmi, "Synchronized")
    message = (synced or {}).get("message", "")
    if synced and synced.get("status") == "False" and ("exceeded quota" in message or "forbidden" in message):
        return f"its pod is refused: {message}"
    return None


@dataclass(frozen=True)
class Seen:
    vm: Obj | None
    vmi: Obj | None


def _seen(tenant: Tenant, name: str) -> Seen:
    return Seen(tenant.find("virtualmachines", name), tenant.vmi(name))


def _evidence(tenant: Tenant, name: str) -> Callable[[], str]:
    return lambda: kube.evidence(tenant.client, tenant.namespace, label_selector=f"vm.kubevirt.io/name={name}")


def wait_ready(tenant: Tenant, name: str, timeout: float) -> Obj:
    """The VM's instance Ready (QEMU runs, the guest is booting); fails early when it cannot get there."""

    def poll() -> Check[Seen]:
        seen = _seen(tenant, name)
        return Check(is_ready(seen.vmi), seen, vm_state(seen.vm, seen.vmi))

    def fail_fast(check: Check[Seen]) -> str | None:
        return hopeless(check.value.vm, check.value.vmi) if check.value else None

    seen = wait_for(
        f"vm {tenant.namespace}/{name} to be Running and Ready",
        poll,
        timeout=timeout,
        interval=3,
        fail_fast=fail_fast,
        evidence=_evidence(tenant, name),
    )
    assert seen is not None and seen.vmi is not None
    return seen.vmi


def wait_stopped(tenant: Tenant, name: str, timeout: float) -> None:
    """Stopped: no instance left (its launcher pod gone); `start` is accepted from there."""

    def poll() -> Check[None]:
        seen = _seen(tenant, name)
        status = (seen.vm or {}).get("status", {}).get("printableStatus")
        return Check(seen.vmi is None and status == "Stopped", None, vm_state(seen.vm, seen.vmi))

    wait_for(f"vm {tenant.namespace}/{name} to be Stopped", poll, timeout=timeout, interval=2,
             evidence=_evidence(tenant, name))  # fmt: skip


def wait_gone(tenant: Tenant, name: str, timeout: float) -> None:
    def poll() -> Check[None]:
        seen = _seen(tenant, name)
        return Check(seen.vm is None and seen.vmi is None, None, vm_state(seen.vm, seen.vmi))

    wait_for(f"vm {tenant.namespace}/{name} to be deleted", poll, timeout=timeout, interval=2,
             evidence=_evidence(tenant, name))  # fmt: skip


# --- actions --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """What `vm create` was asked for, checked without the cluster: name, image, keys, the template."""

    name: str
    image: str
    keys: list[str]
    template: Template


def request(name: str, image: str | None, key_file: Path, handin: Path = HANDIN) -> Request:
    """The checks that need no cluster: the name, the image (the hand-in's), the public key file."""
    template = load_template(handin)
    check_name(name, template)
    return Request(name, resolve_image(template, image), read_public_keys(key_file), template)


@dataclass(frozen=True)
class Plan:
    """A VM ready to be made: its size (the cluster's) and its objects, rendered."""

    name: str
    size: Size
    image: str
    objects: list[Obj]


def plan(tenant: Tenant, wanted: Request, size: str) -> Plan:
    chosen = resolve_size(known_sizes(tenant.client), size)
    objects = render(wanted.template, wanted.name, chosen, wanted.image, wanted.keys)
    return Plan(wanted.name, chosen, wanted.image, objects)


@dataclass(frozen=True)
class Created:
    made: list[str]  # Kind/name of what was made, in order
    reused: list[str]  # disks kept from an earlier VM of that name (`delete --keep-data`)


def _create(tenant: Tenant, obj: Obj) -> None:
    ns, kind = tenant.namespace, obj["kind"]
    if kind == "VirtualMachine":
        tenant.client.custom.create_namespaced_custom_object(*KUBEVIRT, ns, "virtualmachines", obj)
    elif kind == "PersistentVolumeClaim":
        tenant.client.core.create_namespaced_persistent_volume_claim(ns, obj)
    elif kind == "Service":
        tenant.client.core.create_namespaced_service(ns, obj)
    else:
        raise KubedefisError(f"cannot create a {kind} ({obj['metadata']['name']})")


def _delete(tenant: Tenant, kind: str, name: str) -> None:
    ns = tenant.namespace
    try:
        if kind == "VirtualMachine":
            tenant.client.custom.delete_namespaced_custom_object(
                *KUBEVIRT, ns, "virtualmachines", name, propagation_policy="Foreground"
            )
        elif kind == "PersistentVolumeClaim":
            tenant.client.core.delete_namespaced_persistent_volume_claim(name, ns)
        elif kind == "Service":
            tenant.client.core.delete_namespaced_service(name, ns)
    except ApiException as exc:
        if exc.status != 404:
            raise KubedefisError(f"deleting {kind} {ns}/{name}: {api_message(exc)}") from exc


def create(tenant: Tenant, planned: Plan) -> Created:
    """Make the rendered objects in order; what was made is removed again if one is refused (a quota...).

    A disk that exists already (kept by `delete --keep-data`) is reused, and kept if creation fails.
    """
    where = f"{tenant.namespace}/{planned.name}"
    if _api(f"reading vm {where}", lambda: tenant.find("virtualmachines", planned.name)) is not None:
        raise KubedefisError(f"vm {planned.name!r} already exists in namespace {tenant.namespace}")
    made: list[Obj] = []
    reused: list[str] = []
    for obj in planned.objects:
        try:
            _create(tenant, obj)
        except ApiException as exc:
            if exc.status == 409 and obj["kind"] == "PersistentVolumeClaim":
                reused.append(obj["metadata"]["name"])
                continue
            for done in reversed(made):
                _delete(tenant, done["kind"], done["metadata"]["name"])
            undone = f" (undone: {', '.join(_label(d) for d in made)})" if made else ""
            raise KubedefisError(f"creating {_label(obj)} in {tenant.namespace}: {api_message(exc)}{undone}") from exc
        made.append(obj)
    return Created([_label(o) for o in made], reused)


def _label(obj: Obj) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def run_strategy_patch(vm: Obj, strategy: str) -> Obj:
    """The merge patch that sets the VM's runStrategy (dropping the older `running` field, exclusive with it)."""
    spec: Obj = {"runStrategy": strategy}
    if "running" in vm.get("spec", {}):
        spec["running"] = None
    return {"spec": spec}


def set_run_strategy(tenant: Tenant, name: str, strategy: str) -> bool:
    """Patch the VM's runStrategy; False when it already had it (nothing to do)."""
    vm = tenant.vm(name)
    if vm["spec"].get("runStrategy") == strategy and "running" not in vm["spec"]:
        return False
    _api(
        f"setting vm {tenant.namespace}/{name} runStrategy to {strategy}",
        lambda: tenant.client.custom.patch_namespaced_custom_object(
            *KUBEVIRT, tenant.namespace, "virtualmachines", name, run_strategy_patch(vm, strategy)
        ),
    )
    return True


def start(tenant: Tenant, name: str) -> bool:
    return set_run_strategy(tenant, name, "Always")


def stop(tenant: Tenant, name: str) -> bool:
    return set_run_strategy(tenant, name, "Halted")


@dataclass(frozen=True)
class Deleted:
    vm: str
    services: list[str]
    claims: list[str]  # deleted
    kept: list[str]  # kept (--keep-data, or another VM mounts them)


def delete(tenant: Tenant, name: str, keep_data: bool) -> Deleted:
    """The VM (its instance and pod with it), its SSH Service, and its disks unless keep_data or shared."""
    vm = tenant.vm(name)
    vms = tenant.vms()
    services = [s["metadata"]["name"] for s in ssh_services(vm, tenant.services(), vms)]
    claims = [v["persistentVolumeClaim"]["claimName"] for v in _volumes(vm) if "persistentVolumeClaim" in v]
    elsewhere = {
        v["persistentVolumeClaim"]["claimName"]
        for other in vms
        if other["metadata"]["name"] != name
        for v in _volumes(other)
        if "persistentVolumeClaim" in v
    }
    doomed = [] if keep_data else [c for c in claims if c not in elsewhere]
    for service in services:
        _delete(tenant, "Service", service)
    _delete(tenant, "VirtualMachine", name)
    for claim in doomed:
        _delete(tenant, "PersistentVolumeClaim", claim)  # kubernetes removes it once the pod is gone
    return Deleted(name, services, doomed, [c for c in claims if c not in doomed])


def ssh_command(tenant: Tenant, name: str, identity: str | None = None) -> list[str]:
    """How to reach the VM from outside the cluster: ssh to a node's address on the Service's NodePort."""
    vm = tenant.vm(name)
    ports = [p for s in ssh_services(vm, tenant.services(), tenant.vms()) if (p := node_port(s))]
    if not ports:
        raise KubedefisError(f"vm {name!r} has no NodePort Service on port {SSH_PORT} in {tenant.namespace}")
    node = tenant.node_address() or "<node address>"
    key = ["-i", str(Path(identity).expanduser())] if identity else []
    return ["ssh", *key, "-p", str(ports[0]), f"{GUEST_USER}@{node}"]


def virtctl_path() -> Path | None:
    """Our built virtctl (`kubedefis kubevirt build`), else one on PATH; None if neither."""
    try:
        return tools.find_tool("virtctl")
    except KubedefisError:
        return None


def console_command(tenant: Tenant, name: str, virtctl: Path | None) -> list[str]:
    tenant.vm(name)  # a clear error for a VM that does not exist
    command = [str(virtctl) if virtctl else "virtctl", "--kubeconfig", tenant.client.kubeconfig]
    if tenant.client.context:
        command += ["--context", tenant.client.context]
    return [*command, "console", "-n", tenant.namespace, name]


# KubeVirt's console subresource (what `virtctl console` opens): one websocket channel, the serial
# port's raw bytes both ways.
CONSOLE_PROTOCOL = "plain.kubevirt.io"
CONSOLE_NUDGE = 5.0  # s of silence after which Enter is pressed again (a getty busy printing its banner)


def console_prompt(client: kube.Kube, namespace: str, vmi: str, expect: re.Pattern[str], timeout: float) -> str:
    """Press Enter on the VMI's interactive serial console and read it until `expect` is seen; what was read.

    Through the API server as a tenant's `virtctl console` goes (virt-api, then virt-handler, which
    reaches the socket QEMU serves inside the launcher), so a console that only logs is not taken for
    one a tenant can use. A refused handshake, or no match by `timeout`, raises with what came back.
    """
    conf = client.api_client.configuration
    base = re.sub(r"^http", "ws", conf.host)  # https -> wss, http -> ws
    url = f"{base}/apis/subresources.kubevirt.io/v1/namespaces/{namespace}/virtualmachineinstances/{vmi}/console"
    headers = {"sec-websocket-protocol": CONSOLE_PROTOCOL}
    token = conf.get_api_key_with_prefix("authorization")
    if token:
        headers["authorization"] = token
    try:
        ws = create_websocket(conf, url, headers)
    except (WebSocketException, OSError) as exc:  # the handshake's status and body say why (virt-handler's error)
        raise KubedefisError(f"the serial console of {namespace}/{vmi} did not open: {exc}") from exc
    read = b""
    try:
        ws.settimeout(1.0)
        deadline = time.monotonic() + timeout
        nudged = 0.0
        while time.monotonic() < deadline:
            if time.monotonic() - nudged >= CONSOLE_NUDGE:
                ws.send_binary(b"\r")
                nudged = time.monotonic()
            try:
                opcode, data = ws.recv_data()
            except WebSocketTimeoutException:
                continue
            if opcode == ABNF.OPCODE_CLOSE:
                break
            read += data
            nudged = time.monotonic()  # it is talking: let it finish
            text = read.decode(errors="replace")
            if expect.search(text):
                return text
    except (WebSocketException, OSError) as exc:
        raise KubedefisError(f"the serial console of {namespace}/{vmi} broke off: {exc}; read {read[-200:]!r}") from exc
    finally:
        ws.close()
    raise KubedefisError(
        f"expected {expect.pattern!r} on the serial console of {namespace}/{vmi} within {timeout:.0f}s"
        f" of pressing Enter, found {read[-200:]!r}"
    )


def run_console(command: list[str]) -> None:
    """virtctl's serial console on this terminal (Ctrl+] leaves it)."""
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        raise KubedefisError(f"`{' '.join(command)}` exited with {done.returncode}")
