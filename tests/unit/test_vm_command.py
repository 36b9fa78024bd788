"""`kubedefis vm` (défi 21's hosting service) without a cluster: rendering, input checks, API calls.

- the VM is the hand-in's (defis/defi21) renamed: the size as its instance type, the image on both the
  root disk and the kernel boot, the tenant's key in the cloud-init user data next to the hand-in's
  own cloud-config, its disk and its SSH Service named and selected after it;
- bad input fails with one line naming what is known (sizes, images) before anything is created;
- the API calls are checked against an in-memory CustomObjectsApi and CoreV1Api: what is created and
  in which order, undone when the quota refuses it, the start/stop patch bodies, list's lines.
"""

from __future__ import annotations

import base64
import copy
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubedefis.commands import cli
from kubedefis.core import manifests, paths
from kubedefis.core.errors import KubedefisError
from kubedefis.core.waits import WaitTimeout
from kubedefis.stack import kubevirt, vms

HANDIN = paths.REPO_ROOT / "defis/defi21"
GUEST = "kubedefis/guest-debian:0.1.0"
NANO = vms.Size("u1.nano", 1, "512Mi")


def public_key(kind: str = "ssh-ed25519", comment: str = "tenant@laptop") -> str:
    """A well-formed OpenSSH public key line (the blob starts with its own type, as ssh-keygen writes it)."""
    blob = len(kind).to_bytes(4, "big") + kind.encode() + (32).to_bytes(4, "big") + bytes(range(32))
    return f"{kind} {base64.b64encode(blob).decode()} {comment}"


@pytest.fixture
def key_file(tmp_path) -> Path:
    path = tmp_path / "id_ed25519.pub"
    path.write_text(public_key() + "\n")
    return path


def objects_of(name: str = "web", size: vms.Size = NANO, keys: list[str] | None = None) -> dict[str, Any]:
    rendered = vms.render(vms.load_template(HANDIN), name, size, GUEST, keys or [public_key()])
    return {o["kind"]: o for o in rendered} | {"order": [o["kind"] for o in rendered]}


def cloud_config(vm: dict[str, Any]) -> dict[str, Any]:
    (volume,) = [v for v in vm["spec"]["template"]["spec"]["volumes"] if "cloudInitNoCloud" in v]
    text = volume["cloudInitNoCloud"]["userData"]
    assert text.startswith("#cloud-config\n")
    return dict(yaml.safe_load(text))


# --- rendering ---------------------------------------------------------------------------------------


def test_the_vm_is_the_hand_in_s_with_the_size_the_image_and_the_key():
    rendered = objects_of("web", vms.Size("u1.micro", 1, "1Gi"))
    vm = rendered["VirtualMachine"]
    assert vm["metadata"] == {"name": "web"}
    assert vm["spec"]["runStrategy"] == "Always"
    # the size is KubeVirt's instance type: it gives the guest its vCPU and memory (no second copy of them)
    assert vm["spec"]["instancetype"] == {"kind": "VirtualMachineClusterInstancetype", "name": "u1.micro"}
    domain = vm["spec"]["template"]["spec"]["domain"]
    assert "cpu" not in domain and "memory" not in domain.get("resources", {})
    volumes = {v["name"]: v for v in vm["spec"]["template"]["spec"]["volumes"]}
    assert volumes["root"]["containerDisk"]["image"] == GUEST
    assert domain["firmware"]["kernelBoot"]["container"]["image"] == GUEST
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "web-data"
    assert vm["spec"]["template"]["metadata"]["labels"] == {"app.kubernetes.io/name": "web"}


def test_the_key_is_in_the_cloud_init_user_data_beside_the_hand_in_s_cloud_config():
    key = public_key(comment="alice@minet")
    vm = objects_of(keys=[key])["VirtualMachine"]
    config = cloud_config(vm)
    assert config["ssh_authorized_keys"] == [key]
    # the hand-in's first-boot steps are still there: /data formatted, mounted, given to the user
    assert config["mounts"] == [["/dev/vdb", "/data", "ext4", "defaults,nofail"]]
    assert config["fs_setup"][0]["device"] == "/dev/vdb"
    # the hand-in's `ssh-key` Secret is not referenced: the VM would not start without it
    assert "accessCredentials" not in vm["spec"]["template"]["spec"]


def test_the_disk_and_ssh_service_follow_the_vm_s_name_and_the_service_selects_its_pod():
    rendered = objects_of("web")
    assert rendered["order"] == ["PersistentVolumeClaim", "VirtualMachine", "Service"]
    claim, service, vm = rendered["PersistentVolumeClaim"], rendered["Service"], rendered["VirtualMachine"]
    assert claim["metadata"]["name"] == "web-data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert service["metadata"]["name"] == "web-ssh"
    assert service["spec"]["type"] == "NodePort"
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(22, 22)]
    assert manifests.selects(service["spec"]["selector"], vm["spec"]["template"]["metadata"]["labels"])
    assert not manifests.selects(service["spec"]["selector"], {"app.kubernetes.io/name": "vm1"})


def test_rendering_leaves_the_template_as_it_was():
    template = vms.load_template(HANDIN)
    before = copy.deepcopy(template.vm)
    vms.render(template, "web", NANO, GUEST, [public_key()])
    assert template.vm == before


def test_the_image_catalogue_is_the_hand_in_s_and_the_stack_builds_that_image():
    template = vms.load_template(HANDIN)
    assert template.images() == [kubevirt.GUEST_IMAGE]
    assert vms.resolve_image(template, None) == kubevirt.GUEST_IMAGE
    assert vms.resolve_image(template, "guest-debian") == kubevirt.GUEST_IMAGE
    assert vms.resolve_image(template, kubevirt.GUEST_IMAGE) == kubevirt.GUEST_IMAGE


def test_sizes_come_from_the_instance_types_in_catalogue_order():
    items = [instancetype("u1.small", 1, "2Gi"), instancetype("u1.nano", 1, "512Mi"),
             instancetype("u1.2xlarge", 8, "32Gi"), instancetype("u1.micro", 1, "1Gi"),
             instancetype("cx1.medium", 1, "2Gi", dedicated=True, hugepages="2Mi")]  # fmt: skip
    known = vms.known_sizes(FakeKube(instancetypes=items))  # type: ignore[arg-type]
    assert list(known) == ["cx1.medium", "u1.nano", "u1.micro", "u1.small", "u1.2xlarge"]
    assert known["u1.nano"] == vms.Size("u1.nano", 1, "512Mi")
    assert known["cx1.medium"].describe() == "cx1.medium (1 vCPU, 2Gi, needs dedicated CPUs and 2Mi hugepages)"


# --- input checks ------------------------------------------------------------------------------------


def test_an_unknown_size_lists_the_known_ones():
    known = {"u1.nano": NANO, "u1.micro": vms.Size("u1.micro", 1, "1Gi")}
    assert vms.resolve_size(known, "u1.micro").memory == "1Gi"
    with pytest.raises(KubedefisError, match=r"unknown size 'huge'; known sizes: u1\.nano, u1\.micro$"):
        vms.resolve_size(known, "huge")
    with pytest.raises(KubedefisError, match="no VirtualMachineClusterInstancetype"):
        vms.resolve_size({}, "u1.nano")


def test_an_unknown_image_lists_the_known_ones():
    with pytest.raises(KubedefisError, match=r"unknown image 'ubuntu'; known images: guest-debian \(kubedefis/guest"):
        vms.resolve_image(vms.load_template(HANDIN), "ubuntu")


def test_public_keys_are_read_and_checked(tmp_path, key_file):
    assert vms.read_public_keys(key_file) == [public_key()]
    several = tmp_path / "authorized_keys"
    several.write_text(f"# mine\n{public_key()}\n\n{public_key('ssh-rsa', 'other')}\n")
    assert vms.read_public_keys(several) == [public_key(), public_key("ssh-rsa", "other")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("", "holds no SSH public key"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n", "is a private key"),
        ("hello world\n", "should start with one of ssh-ed25519"),
        ("ssh-ed25519 not-base64!!\n", "not base64"),
        # a key of another type under an ed25519 label: the blob names its own type
        (public_key("ssh-rsa").replace("ssh-rsa", "ssh-ed25519", 1) + "\n", "not a ssh-ed25519 key"),
    ],
    ids=["missing", "empty", "private", "not-a-key", "bad-base64", "type-mismatch"],
)
def test_bad_key_files_are_refused_with_one_line(tmp_path, content, message):
    path = tmp_path / "key.pub"
    if content is not None:
        path.write_text(content)
    with pytest.raises(KubedefisError, match=message) as refused:
        vms.read_public_keys(path)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("name", ["web", "vm-2", "a" * 58])
def test_good_names(name):
    vms.check_name(name, vms.load_template(HANDIN))


@pytest.mark.parametrize("name", ["Web", "2vm", "vm_1", "vm-", "", "a" * 59])
def test_bad_names_are_refused(name):
    # 58: the Service and the disk add "-ssh" and "-data" and a name is 63 characters at most
    with pytest.raises(KubedefisError, match="invalid VM name"):
        vms.check_name(name, vms.load_template(HANDIN))


# --- a fake cluster ---------------------------------------------------------------------------------


def not_found() -> ApiException:
    return ApiException(status=404, reason="Not Found", body=json.dumps({"message": "not found"}))


def instancetype(name: str, cpus: int, memory: str, dedicated: bool = False, hugepages: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {"cpu": {"guest": cpus}, "memory": {"guest": memory}}
    if dedicated:
        spec["cpu"]["dedicatedCPUPlacement"] = True
    if hugepages:
        spec["memory"]["hugepages"] = {"pageSize": hugepages}
    return {"kind": "VirtualMachineClusterInstancetype", "metadata": {"name": name}, "spec": spec}


@dataclass
class FakeCustom:
    """CustomObjectsApi over a dict: (plural, namespace, name) -> object; every call recorded."""

    instancetypes: list[dict[str, Any]]
    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    kubevirt: bool = True
    refuse: dict[str, ApiException] = field(default_factory=dict)  # plural -> error on create

    def _check(self, group: str) -> None:
        if group == "kubevirt.io" and not self.kubevirt:
            raise not_found()

    def list_cluster_custom_object(self, group, version, plural):
        self.calls.append(("list_cluster", group, version, plural))
        return {"items": self.instancetypes}

    def list_namespaced_custom_object(self, group, version, namespace, plural, limit=None):
        self._check(group)
        items = [o for (p, ns, _), o in sorted(self.objects.items()) if p == plural and ns == namespace]
        return {"items": copy.deepcopy(items)}

    def get_namespaced_custom_object(self, group, version, namespace, plural, name):
        self._check(group)
        if (plural, namespace, name) not in self.objects:
            raise not_found()
        return copy.deepcopy(self.objects[plural, namespace, name])

    def create_namespaced_custom_object(self, group, version, namespace, plural, body):
        self.calls.append(("create", plural, body["metadata"]["name"]))
        if plural in self.refuse:
            raise self.refuse[plural]
        self.objects[plural, namespace, body["metadata"]["name"]] = copy.deepcopy(body)
        return body

    def patch_namespaced_custom_object(self, group, version, namespace, plural, name, body):
        self.calls.append(("patch", plural, name, copy.deepcopy(body)))
        spec = self.objects[plural, namespace, name]["spec"]
        for key, value in body["spec"].items():  # a JSON merge patch of spec: null removes
            if value is None:
                spec.pop(key, None)
            else:
                spec[key] = value
        return self.objects[plural, namespace, name]

    def delete_namespaced_custom_object(self, group, version, namespace, plural, name, propagation_policy=None):
        self.calls.append(("delete", plural, name, propagation_policy))
        if self.objects.pop((plural, namespace, name), None) is None:
            raise not_found()


@dataclass
class FakeCore:
    namespaces: set[str]
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    claims: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    nodes_readable: bool = True
    next_port: int = 30022

    def read_namespace(self, name):
        if name not in self.namespaces:
            raise not_found()
        return SimpleNamespace(metadata=SimpleNamespace(name=name))

    def create_namespaced_persistent_volume_claim(self, namespace, body):
        self.calls.append(("create", "persistentvolumeclaims", body["metadata"]["name"]))
        if body["metadata"]["name"] in self.claims:
            raise ApiException(status=409, reason="Conflict", body=json.dumps({"message": "already exists"}))
        self.claims[body["metadata"]["name"]] = copy.deepcopy(body)

    def create_namespaced_service(self, namespace, body):
        self.calls.append(("create", "services", body["metadata"]["name"]))
        service = copy.deepcopy(body)
        for port in service["spec"]["ports"]:
            port["nodePort"] = self.next_port
        self.next_port += 1
        self.services[body["metadata"]["name"]] = service

    def list_namespaced_service(self, namespace):
        return SimpleNamespace(items=[client.V1Service.from_dict(s) for s in self.services.values()])

    def delete_namespaced_service(self, name, namespace):
        self.calls.append(("delete", "services", name))
        del self.services[name]

    def delete_namespaced_persistent_volume_claim(self, name, namespace):
        self.calls.append(("delete", "persistentvolumeclaims", name))
        del self.claims[name]

    def list_node(self):
        if not self.nodes_readable:
            raise ApiException(status=403, reason="Forbidden")
        address = SimpleNamespace(type="InternalIP", address="172.18.0.2")
        return SimpleNamespace(items=[SimpleNamespace(status=SimpleNamespace(addresses=[address]))])

    # what kube.evidence reads when a wait fails
    def list_namespaced_pod(self, namespace, label_selector=""):
        return SimpleNamespace(items=[])

    def list_namespaced_event(self, namespace):
        return SimpleNamespace(items=[])


class FakeKube:
    def __init__(self, instancetypes=None, namespaces=("u-minet",)) -> None:
        self.calls: list[tuple[Any, ...]] = []  # both APIs' calls, in the order they came
        sizes = instancetypes if instancetypes is not None else [instancetype("u1.nano", 1, "512Mi")]
        self.custom = FakeCustom(sizes, calls=self.calls)
        self.core = FakeCore(set(namespaces), calls=self.calls)
        self.kubeconfig = "/tmp/kubeconfig"
        self.context: str | None = None


def tenant_of(fake: FakeKube, namespace: str = "u-minet") -> vms.Tenant:
    return vms.Tenant(fake, namespace)  # type: ignore[arg-type]


def running(fake: FakeKube, name: str, ip: str = "10.244.0.17", ready: str = "True") -> None:
    """What KubeVirt would report for a VM that started: its status, its instance Ready and addressed."""
    fake.custom.objects["virtualmachines", "u-minet", name]["status"] = {"printableStatus": "Running"}
    fake.custom.objects["virtualmachineinstances", "u-minet", name] = {
        "metadata": {"name": name},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": ready}],
            "interfaces": [{"name": "default", "ipAddress": ip}],
        },
    }


def make_vm(fake: FakeKube, key_file: Path, name: str = "web") -> vms.Created:
    tenant = tenant_of(fake).require()
    return vms.create(tenant, vms.plan(tenant, vms.request(name, None, key_file, HANDIN), "u1.nano"))


# --- the API calls -----------------------------------------------------------------------------------


def test_create_makes_disk_vm_and_service_in_that_order(key_file):
    fake = FakeKube()
    created = make_vm(fake, key_file)
    assert created.made == ["PersistentVolumeClaim/web-data", "VirtualMachine/web", "Service/web-ssh"]
    assert [c for c in fake.calls if c[0] == "create"] == [
        ("create", "persistentvolumeclaims", "web-data"),
        ("create", "virtualmachines", "web"),
        ("create", "services", "web-ssh"),
    ]
    vm = fake.custom.objects["virtualmachines", "u-minet", "web"]
    assert vm["spec"]["instancetype"]["name"] == "u1.nano"
    assert cloud_config(vm)["ssh_authorized_keys"] == [public_key()]


def test_create_refuses_an_existing_vm_and_an_unknown_size(key_file):
    fake = FakeKube()
    make_vm(fake, key_file)
    with pytest.raises(KubedefisError, match="vm 'web' already exists in namespace u-minet"):
        make_vm(fake, key_file)
    tenant = tenant_of(fake)
    with pytest.raises(KubedefisError, match=r"unknown size 'u1\.huge'; known sizes: u1\.nano"):
        vms.plan(tenant, vms.request("other", None, key_file, HANDIN), "u1.huge")


def test_a_vm_the_quota_refuses_leaves_nothing_behind(key_file):
    fake = FakeKube()
    message = 'virtualmachines.kubevirt.io "web" is forbidden: exceeded quota: vm-hosting'
    fake.custom.refuse["virtualmachines"] = ApiException(status=403, reason="Forbidden",
                                                         body=json.dumps({"message": message}))  # fmt: skip
    with pytest.raises(KubedefisError) as refused:
        make_vm(fake, key_file)
    assert str(refused.value) == (
        f"creating VirtualMachine/web in u-minet: {message} (undone: PersistentVolumeClaim/web-data)"
    )
    assert fake.core.claims == {} and fake.core.services == {}


def test_a_kept_disk_is_mounted_again(key_file):
    fake = FakeKube()
    fake.core.claims["web-data"] = {"metadata": {"name": "web-data"}}
    created = make_vm(fake, key_file)
    assert created.reused == ["web-data"]
    assert created.made == ["VirtualMachine/web", "Service/web-ssh"]


def test_a_missing_tenant_and_a_cluster_without_kubevirt_are_one_line_errors():
    with pytest.raises(KubedefisError, match=r"^tenant namespace 'nobody' does not exist \(kubectl create namespace"):
        tenant_of(FakeKube(), "nobody").require()
    fake = FakeKube()
    fake.custom.kubevirt = False
    with pytest.raises(KubedefisError, match=r"^KubeVirt is not installed on this cluster") as refused:
        tenant_of(fake).require()
    assert "\n" not in str(refused.value)


def test_list_shows_status_ready_size_ip_and_the_ssh_node_port(key_file):
    fake = FakeKube()
    make_vm(fake, key_file, "web")
    make_vm(fake, key_file, "db")
    running(fake, "web")
    fake.custom.objects["virtualmachines", "u-minet", "db"]["status"] = {"printableStatus": "Stopped"}
    lines = vms.table(vms.list_vms(tenant_of(fake))).splitlines()
    assert [line.split() for line in lines] == [
        ["NAME", "STATUS", "READY", "SIZE", "IP", "SSH", "(node:port)"],
        ["db", "Stopped", "-", "u1.nano", "-", "172.18.0.2:30023"],
        ["web", "Running", "yes", "u1.nano", "10.244.0.17", "172.18.0.2:30022"],
    ]
    column = lines[0].index("READY")  # columns aligned under their header
    assert (lines[1][column], lines[2][column : column + 3]) == ("-", "yes")


def test_a_tenant_who_cannot_read_nodes_still_sees_the_port(key_file):
    fake = FakeKube()
    make_vm(fake, key_file)
    fake.core.nodes_readable = False
    (row,) = vms.list_vms(tenant_of(fake))
    assert row.ssh == "<node>:30022"
    assert vms.ssh_command(tenant_of(fake), "web") == ["ssh", "-p", "30022", "debian@<node address>"]


def test_stop_and_start_patch_the_run_strategy(key_file):
    fake = FakeKube()
    make_vm(fake, key_file)
    tenant = tenant_of(fake)
    assert vms.stop(tenant, "web") is True
    assert vms.stop(tenant, "web") is False  # already Halted: no patch
    assert vms.start(tenant, "web") is True
    patches = [c for c in fake.custom.calls if c[0] == "patch"]
    assert patches == [
        ("patch", "virtualmachines", "web", {"spec": {"runStrategy": "Halted"}}),
        ("patch", "virtualmachines", "web", {"spec": {"runStrategy": "Always"}}),
    ]


def test_a_vm_on_the_older_running_field_has_it_removed_by_the_same_patch():
    assert vms.run_strategy_patch({"spec": {"running": True}}, "Halted") == {
        "spec": {"runStrategy": "Halted", "running": None}
    }


def test_start_of_an_unknown_vm_says_so():
    with pytest.raises(KubedefisError, match=r"^no VM 'ghost' in namespace u-minet$"):
        vms.start(tenant_of(FakeKube()), "ghost")


def test_delete_removes_the_vm_its_service_and_its_disk(key_file):
    fake = FakeKube()
    make_vm(fake, key_file, "web")
    make_vm(fake, key_file, "db")
    deleted = vms.delete(tenant_of(fake), "web", keep_data=False)
    assert (deleted.services, deleted.claims, deleted.kept) == (["web-ssh"], ["web-data"], [])
    assert ("delete", "virtualmachines", "web", "Foreground") in fake.custom.calls
    assert set(fake.core.services) == {"db-ssh"} and set(fake.core.claims) == {"db-data"}
    deleted = vms.delete(tenant_of(fake), "db", keep_data=True)
    assert (deleted.claims, deleted.kept) == ([], ["db-data"])
    assert set(fake.core.claims) == {"db-data"}


def test_waiting_stops_early_when_the_quota_refuses_the_vm_s_pod(key_file):
    fake = FakeKube()
    make_vm(fake, key_file)
    refused = 'failed to create virtual machine pod: pods "virt-launcher-web-x" is forbidden: exceeded quota'
    fake.custom.objects["virtualmachineinstances", "u-minet", "web"] = {
        "metadata": {"name": "web"},
        "status": {"phase": "Pending", "conditions": [
            {"type": "Synchronized", "status": "False", "reason": "FailedCreate", "message": refused}]},
    }  # fmt: skip
    with pytest.raises(WaitTimeout, match=r"its pod is refused: .*exceeded quota"):
        vms.wait_ready(tenant_of(fake), "web", timeout=60)


def test_waiting_returns_once_the_instance_is_ready(key_file):
    fake = FakeKube()
    make_vm(fake, key_file)
    running(fake, "web")
    assert vms.ip_of(vms.wait_ready(tenant_of(fake), "web", timeout=5)) == "10.244.0.17"


def test_console_runs_virtctl_against_the_same_cluster_and_namespace(key_file, monkeypatch):
    fake = FakeKube()
    make_vm(fake, key_file)
    fake.context = "kind-kd"
    command = vms.console_command(tenant_of(fake), "web", Path("/opt/virtctl"))
    assert command == ["/opt/virtctl", "--kubeconfig", "/tmp/kubeconfig", "--context", "kind-kd",
                       "console", "-n", "u-minet", "web"]  # fmt: skip
    assert vms.console_command(tenant_of(fake), "web", None)[0] == "virtctl"
    ran: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, check: ran.append(cmd) or SimpleNamespace(returncode=1))
    with pytest.raises(KubedefisError, match="exited with 1"):
        vms.run_console(command)
    assert ran == [command]


# --- the command line --------------------------------------------------------------------------------


def test_the_cli_checks_the_key_before_connecting(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(vms, "connect", lambda *a: pytest.fail("connected before checking the input"))
    missing = tmp_path / "nope.pub"
    code = cli.main(["vm", "create", "web", "--tenant", "u-minet", "--size", "u1.nano", "--ssh-key", str(missing)])
    assert code == 1
    assert (
        capsys.readouterr().err.strip().splitlines()[-1]
        == f"kubedefis: error: SSH public key file {missing} does not exist"
    )


def test_the_cli_lists_and_stops_through_the_stack(key_file, monkeypatch, capsys):
    fake = FakeKube()
    make_vm(fake, key_file)
    running(fake, "web")
    seen = []
    monkeypatch.setattr(vms, "connect", lambda kubeconfig, context, ns: seen.append((kubeconfig, context, ns))
                        or tenant_of(fake, ns))  # fmt: skip
    assert cli.main(["vm", "list", "-t", "u-minet", "--kubeconfig", "/k"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].split() == ["web", "Running", "yes", "u1.nano", "10.244.0.17", "172.18.0.2:30022"]
    assert seen == [("/k", None, "u-minet")]
    assert cli.main(["vm", "stop", "web", "-t", "u-minet", "--no-wait"]) == 0
    assert fake.custom.objects["virtualmachines", "u-minet", "web"]["spec"]["runStrategy"] == "Halted"
    assert cli.main(["vm", "ssh", "web", "-t", "u-minet", "-i", "/home/alice/.ssh/id_ed25519"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        "ssh -i /home/alice/.ssh/id_ed25519 -p 30022 debian@172.18.0.2"
    )


def test_the_cli_prints_the_console_command_when_virtctl_is_missing(key_file, monkeypatch, capsys):
    fake = FakeKube()
    make_vm(fake, key_file)
    monkeypatch.setattr(vms, "connect", lambda *a: tenant_of(fake))
    monkeypatch.setattr(vms, "virtctl_path", lambda: None)
    monkeypatch.setattr(vms, "run_console", lambda command: pytest.fail("ran a console without virtctl"))
    assert cli.main(["vm", "console", "web", "-t", "u-minet"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "virtctl --kubeconfig /tmp/kubeconfig console -n u-minet web"
    assert "virtctl not found" in captured.err


def test_the_cli_needs_a_tenant(capsys):
    with pytest.raises(SystemExit) as refused:
        cli.main(["vm", "list"])
    assert refused.value.code == 2 and "--tenant" in capsys.readouterr().err


def test_stop_waits_for_the_instance_to_go_and_delete_for_the_vm_too(key_file):
    fake = FakeKube()
    make_vm(fake, key_file)
    running(fake, "web")
    tenant = tenant_of(fake)
    vms.stop(tenant, "web")
    with pytest.raises(WaitTimeout, match=r"last state: vm Running, instance Running \(Ready=True\)"):
        vms.wait_stopped(tenant, "web", timeout=0.1)
    del fake.custom.objects["virtualmachineinstances", "u-minet", "web"]
    fake.custom.objects["virtualmachines", "u-minet", "web"]["status"] = {"printableStatus": "Stopped"}
    vms.wait_stopped(tenant, "web", timeout=0.1)
    running(fake, "web")
    vms.delete(tenant, "web", keep_data=False)
    with pytest.raises(WaitTimeout, match=r"last state: vm absent, instance Running"):
        vms.wait_gone(tenant, "web", timeout=0.1)  # the VM object is gone, its instance not yet
    del fake.custom.objects["virtualmachineinstances", "u-minet", "web"]
    vms.wait_gone(tenant, "web", timeout=0.1)
