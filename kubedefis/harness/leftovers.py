"""Namespaces left by a suite run that died (test harness layer).

A run deletes the namespaces it creates when its modules end; a run that is killed (CI's timeout,
Ctrl-C twice, an xdist worker crash) leaves them, and their pods keep their CPU requests on the
node: the next run's stages stay Pending. Each namespace the suite creates names the process that
owns it (host, pid, the process's start time: a pid is reused); a later run on the same host
deletes those whose owner is gone. Namespaces of a run still going, or of another host, are left.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

CREATED_BY = "kubedefis.io/created-by"
OWNER_HOST = "kubedefis.io/owner-host"
OWNER_PID = "kubedefis.io/owner-pid"
OWNER_START = "kubedefis.io/owner-start"


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    start: str  # the process's start time in clock ticks since boot (/proc/PID/stat, field 22)


def process_start(pid: int) -> str | None:
    """The start time of a running process, None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[19] if len(fields) > 19 else None


def me() -> Owner:
    return Owner(socket.gethostname(), os.getpid(), process_start(os.getpid()) or "")


def owner_annotations(owner: Owner) -> dict[str, str]:
    return {OWNER_HOST: owner.host, OWNER_PID: str(owner.pid), OWNER_START: owner.start}


def owner_of(metadata_annotations: dict[str, str] | None) -> Owner | None:
    notes = metadata_annotations or {}
    try:
        return Owner(notes[OWNER_HOST], int(notes[OWNER_PID]), notes[OWNER_START])
    except (KeyError, ValueError):
        return None  # created by an older suite, or by hand: nothing says it is abandoned


def abandoned(namespaces: Iterable[Any], host: str, started: Callable[[int], str | None] = process_start) -> list[str]:
    """Names of the suite's namespaces whose owning process, on this host, no longer runs."""
    found = []
    for ns in namespaces:
        if (ns.metadata.labels or {}).get(CREATED_BY) != "conformance" or ns.status.phase == "Terminating":
            continue
        owner = owner_of(ns.metadata.annotations)
        if owner is not None and owner.host == host and started(owner.pid) != owner.start:
            found.append(ns.metadata.name)
    return found
