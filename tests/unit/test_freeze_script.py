"""The script that hangs a container (défi 10) stops its process tree and nothing else.

Run here with the node's shell semantics (`sh`) on real processes; crictl is replaced by a script
printing the tree's root PID, as the node's crictl prints the container's.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubedefis.harness.stage import FREEZE_SCRIPT


def state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(") ", 1)[1].split()[0]


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            ppid = next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:"))
            if int(ppid) == pid:
                found.append(int(entry.name))
    return found


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        for child in children(process.pid):
            os.kill(child, signal.SIGKILL)
        process.kill()
        process.wait()


def freeze(tmp_path: Path, root: int | str) -> subprocess.CompletedProcess[str]:
    crictl = tmp_path / "crictl"
    crictl.write_text(f"#!/bin/sh\necho {root}\n")
    crictl.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    shell = shutil.which("dash") or "sh"
    return subprocess.run(
        [shell, "-c", FREEZE_SCRIPT, "freeze", "container-id"], env=env, capture_output=True, text=True, timeout=30
    )


def test_stops_the_root_and_its_descendants_only(tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    # A container's tree: a root, a child, a grandchild; and a process beside it (an exec'd probe).
    processes.append(subprocess.Popen(["sh", "-c", 'sleep 300 & sh -c "sleep 300 & wait" & wait']))
    processes.append(subprocess.Popen(["sleep", "300"]))
    root, beside = processes[0].pid, processes[1].pid
    subprocess.run(["sleep", "0.3"], check=True)  # the tree's children started
    tree = children(root)
    assert len(tree) == 2, tree

    done = freeze(tmp_path, root)

    assert done.returncode == 0, done.stderr
    stopped = [int(p) for p in done.stdout.split()]
    grandchildren = [g for c in tree for g in children(c)]
    assert stopped[0] == root and set(stopped) == {root, *tree, *grandchildren}
    assert all(state(p) == "T" for p in stopped)
    assert state(beside) != "T"
    for pid in stopped:
        os.kill(pid, signal.SIGCONT)


def test_a_container_without_a_pid_is_an_error(tmp_path: Path) -> None:
    done = freeze(tmp_path, "")
    assert done.returncode != 0 and "no PID for container container-id" in done.stderr


def test_a_process_that_cannot_be_stopped_is_an_error(tmp_path: Path) -> None:
    done = freeze(tmp_path, 2**22 + 1)  # above pid_max: no such process
    assert done.returncode != 0


def test_a_busy_root_is_waited_for_until_stopped(tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    # A root spinning on the CPU, as gunicorn's master under load: the signal lands when it next
    # leaves the kernel, so the script polls its state instead of reading it once (CI read "R").
    processes.append(subprocess.Popen(["sh", "-c", "while :; do :; done"]))
    root = processes[0].pid

    done = freeze(tmp_path, root)

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(root)]
    assert state(root) == "T"
    os.kill(root, signal.SIGCONT)
