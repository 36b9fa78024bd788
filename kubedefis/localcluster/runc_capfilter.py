#!/usr/bin/python3
"""runc wrapper that drops capabilities the host cannot grant.

Some sandboxes run dockerd with a capability bounding set that lacks a
capability (here CAP_SYS_RESOURCE). Docker asks runc for *every* capability on
privileged containers, so runc fails with "unable to apply caps". kind's node
containers are privileged, so nothing runs. This wrapper rewrites the OCI
process spec (config.json of the bundle on create/run, the --process file on
exec) to keep only capabilities present in our own bounding set, then execs
the real runc with the same arguments. It is standalone on purpose: dockerd
runs it with a bare environment and no virtualenv.
"""

import json
import os
import sys

REAL_RUNC = os.environ.get("KUBEDEFIS_REAL_RUNC", "/usr/sbin/runc")

# Linux capability numbers (include/uapi/linux/capability.h).
CAPABILITIES = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
]


def bounding_set() -> set[str]:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("CapBnd:"):
                mask = int(line.split()[1], 16)
                return {"CAP_" + name for bit, name in enumerate(CAPABILITIES) if mask >> bit & 1}
    return {"CAP_" + name for name in CAPABILITIES}


def filter_process(process: dict, allowed: set[str]) -> bool:
    caps = process.get("capabilities") or {}
    changed = False
    for kind, names in caps.items():
        kept = [name for name in names if name in allowed]
        if kept != names:
            caps[kind] = kept
            changed = True
    return changed


def rewrite(path: str, nested: bool) -> None:
    try:
        with open(path) as handle:
            spec = json.load(handle)
    except (OSError, ValueError):
        return  # let runc report its own error
    process = spec.get("process", {}) if nested else spec
    if filter_process(process, bounding_set()):
        tmp = path + ".capfilter"
        with open(tmp, "w") as handle:
            json.dump(spec, handle)
        os.replace(tmp, path)


def option_value(args: list[str], names: tuple[str, ...]) -> str | None:
    for index, arg in enumerate(args):
        for name in names:
            if arg == name and index + 1 < len(args):
                return args[index + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def main() -> None:
    args = sys.argv[1:]
    command = next((a for a in args if a in ("create", "run", "exec")), None)
    if command in ("create", "run"):
        bundle = option_value(args, ("--bundle", "-b")) or os.getcwd()
        rewrite(os.path.join(bundle, "config.json"), nested=True)
    elif command == "exec":
        process_file = option_value(args, ("--process", "-p"))
        if process_file:
            rewrite(process_file, nested=False)
    os.execv(REAL_RUNC, [REAL_RUNC, *args])


if __name__ == "__main__":
    main()
