"""`kubedefis vm`: défi 21's hosting service for a tenant: create, list, start, stop, console, ssh, delete a VM."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from kubedefis.core import timeouts
from kubedefis.core.shell import Status
from kubedefis.stack import vms


def _tenant(args: argparse.Namespace) -> vms.Tenant:
    return vms.connect(args.kubeconfig, args.context, args.tenant)


def _show(tenant: vms.Tenant, name: str) -> None:
    print(vms.table([r for r in vms.list_vms(tenant) if r.name == name]))


def _create(args: argparse.Namespace, status: Status) -> None:
    wanted = vms.request(args.name, args.image, Path(args.ssh_key), Path(args.handin))  # no cluster needed
    tenant = _tenant(args)
    planned = vms.plan(tenant, wanted, args.size)
    with status.step(f"Creating vm {args.tenant}/{args.name}: {planned.size.describe()}, image {planned.image}"):
        created = vms.create(tenant, planned)
    status.info(f"made {', '.join(created.made)}")
    if created.reused:
        status.info(f"reused the disk(s) kept from before: {', '.join(created.reused)}")
    if not args.no_wait:
        with status.step(f"Waiting for vm {args.name} to be Running and Ready"):
            vms.wait_ready(tenant, args.name, args.timeout)
    _show(tenant, args.name)
    print(f"ssh (once the guest has booted): {shlex.join(vms.ssh_command(tenant, args.name))}")


def _list(args: argparse.Namespace, status: Status) -> None:
    found = vms.list_vms(_tenant(args))
    print(vms.table(found) if found else f"no VM in namespace {args.tenant}")


def _sizes(args: argparse.Namespace, status: Status) -> None:
    tenant = _tenant(args)
    for size in vms.known_sizes(tenant.client).values():
        print(size.describe())
    template = vms.load_template(Path(args.handin))
    print("images: " + ", ".join(f"{vms.short_image_name(i)} ({i})" for i in template.images()))


def _start(args: argparse.Namespace, status: Status) -> None:
    tenant = _tenant(args)
    changed = vms.start(tenant, args.name)
    if not changed:
        status.info(f"vm {args.name} is already set to run (runStrategy Always)")
    if not args.no_wait:
        with status.step(f"Waiting for vm {args.name} to be Running and Ready"):
            vms.wait_ready(tenant, args.name, args.timeout)
    _show(tenant, args.name)


def _stop(args: argparse.Namespace, status: Status) -> None:
    tenant = _tenant(args)
    if not vms.stop(tenant, args.name):
        status.info(f"vm {args.name} is already set to stay stopped (runStrategy Halted)")
    if not args.no_wait:
        with status.step(f"Waiting for vm {args.name} to be Stopped"):
            vms.wait_stopped(tenant, args.name, args.timeout)
    _show(tenant, args.name)


def _delete(args: argparse.Namespace, status: Status) -> None:
    tenant = _tenant(args)
    deleted = vms.delete(tenant, args.name, keep_data=args.keep_data)
    status.info(f"deleted vm {deleted.vm}; Services {', '.join(deleted.services) or 'none'}")
    if deleted.claims:
        status.info(f"disks deleted: {', '.join(deleted.claims)}")
    if deleted.kept:
        status.info(f"disks kept: {', '.join(deleted.kept)} (a later `vm create {args.name}` mounts them again)")
    if not args.no_wait:
        with status.step(f"Waiting for vm {args.name} to be gone"):
            vms.wait_gone(tenant, args.name, args.timeout)


def _console(args: argparse.Namespace, status: Status) -> None:
    tenant = _tenant(args)
    virtctl = vms.virtctl_path()
    command = vms.console_command(tenant, args.name, virtctl)
    if virtctl is None or args.print_only:
        if virtctl is None:
            print("virtctl not found (`kubedefis kubevirt build` builds it); the console is:", file=sys.stderr)
        print(shlex.join(command))
        return
    status.info("serial console: Ctrl+] to leave")
    vms.run_console(command)


def _ssh(args: argparse.Namespace, status: Status) -> None:
    print(shlex.join(vms.ssh_command(_tenant(args), args.name, args.identity)))


def register(subparsers: Any) -> None:
    """Add `kubedefis vm ...` to the CLI."""
    vm = subparsers.add_parser("vm", help="défi 21: a tenant's virtual machines (create, list, start, stop, delete)")
    vsub = vm.add_subparsers(dest="vm_command", required=True)

    def common(parser: argparse.ArgumentParser, name: bool = True, wait: bool = False) -> None:
        if name:
            parser.add_argument("name", help="the VM's name")
        parser.add_argument("-t", "--tenant", "-n", "--namespace", dest="tenant", required=True,
                            help="the tenant's namespace")  # fmt: skip
        parser.add_argument("--kubeconfig", help="default: $KUBECONFIG, else the local kind cluster's")
        parser.add_argument("--context", help="kubeconfig context")
        if wait:
            parser.add_argument("--no-wait", action="store_true", help="return once the API has accepted it")
            parser.add_argument(
                "--timeout", type=float, default=timeouts.VM_READY, help=f"seconds (default {timeouts.VM_READY:.0f})"
            )

    handin = str(vms.HANDIN)
    create = vsub.add_parser("create", help="a VM from the hand-in's template: size, image, SSH key, SSH Service")
    common(create, wait=True)
    create.add_argument("--size", required=True, help="an instance type of the cluster (`vm sizes`), e.g. u1.nano")
    create.add_argument("--image", help="the image (`vm sizes` lists them; default: the hand-in's)")
    create.add_argument("--ssh-key", required=True, help="the tenant's SSH public key file (~/.ssh/id_ed25519.pub)")
    create.add_argument("--handin", default=handin, help=f"the folder of the template VM (default {handin})")
    create.set_defaults(func=_create)

    ls = vsub.add_parser("list", help="the tenant's VMs: status, ready, size, IP, SSH node:port")
    common(ls, name=False)
    ls.set_defaults(func=_list)

    sizes = vsub.add_parser("sizes", help="the sizes (the cluster's instance types) and images a VM may have")
    common(sizes, name=False)
    sizes.add_argument("--handin", default=handin, help=f"the folder of the template VM (default {handin})")
    sizes.set_defaults(func=_sizes)

    st = vsub.add_parser("start", help="start a stopped VM (runStrategy Always); waits until Ready")
    common(st, wait=True)
    st.set_defaults(func=_start)

    sp = vsub.add_parser("stop", help="stop a VM (runStrategy Halted): its pod goes, its disk stays")
    common(sp, wait=True)
    sp.set_defaults(func=_stop)

    rm = vsub.add_parser("delete", help="delete a VM, its SSH Service and its disk")
    common(rm, wait=True)
    rm.add_argument("--keep-data", action="store_true", help="keep its persistent disk (a later create reuses it)")
    rm.set_defaults(func=_delete)

    co = vsub.add_parser("console", help="the VM's serial console (virtctl console)")
    common(co)
    co.add_argument("--print-only", action="store_true", help="print the virtctl command instead of running it")
    co.set_defaults(func=_console)

    sh = vsub.add_parser("ssh", help="print the ssh command that reaches the VM from outside the cluster")
    common(sh)
    sh.add_argument("-i", "--identity", help="the private key for ssh -i")
    sh.set_defaults(func=_ssh)
