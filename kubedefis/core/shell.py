"""Running external commands with their output kept for error messages, and progress lines."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from kubedefis.core.errors import CommandError, KubedefisError


def run(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    input: bytes | str | None = None,
    check: bool = True,
    quiet: bool = True,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure raise CommandError carrying its combined output.

    With quiet=False the output streams to our stderr as well (long builds show progress).
    """
    full_env = {**os.environ, **(env or {})}
    data = input.encode() if isinstance(input, str) else input
    if quiet:
        try:
            proc = subprocess.run(
                list(command), env=full_env, cwd=cwd, input=data, capture_output=True, timeout=timeout
            )
        except FileNotFoundError as exc:
            raise KubedefisError(f"{command[0]}: not found on PATH") from exc
        out = proc.stdout.decode(errors="replace")
        err = proc.stderr.decode(errors="replace")
        if check and proc.returncode != 0:
            raise CommandError(list(command), proc.returncode, out + err)
        return subprocess.CompletedProcess(list(command), proc.returncode, out, err)
    return _run_streaming(list(command), full_env, cwd, data, check, timeout)


def _run_streaming(
    command: list[str],
    env: dict[str, str],
    cwd: Path | str | None,
    data: bytes | None,
    check: bool,
    timeout: float | None,
) -> subprocess.CompletedProcess[str]:
    kept: list[str] = []
    try:
        proc = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
    except FileNotFoundError as exc:
        raise KubedefisError(f"{command[0]}: not found on PATH") from exc
    if data is not None and proc.stdin:
        proc.stdin.write(data)
        proc.stdin.close()
    assert proc.stdout is not None
    deadline = None if timeout is None else time.monotonic() + timeout
    for raw in proc.stdout:
        line = raw.decode(errors="replace")
        kept.append(line)
        del kept[:-400]
        sys.stderr.write("    " + line)
        if deadline and time.monotonic() > deadline:
            proc.kill()
            raise CommandError(command, -9, "".join(kept) + f"\n(timed out after {timeout}s)")
    returncode = proc.wait()
    output = "".join(kept)
    if check and returncode != 0:
        raise CommandError(command, returncode, output)
    return subprocess.CompletedProcess(command, returncode, output, "")


def require_tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if not path:
        raise KubedefisError(f"{name} is not installed: {hint}")
    return path


class Status:
    """One line per step: what starts, then how it ended and how long it took."""

    def __init__(self, stream=sys.stderr) -> None:  # type: ignore[no-untyped-def]
        self.stream = stream

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        start = time.monotonic()
        self.stream.write(f" • {title} ...\n")
        self.stream.flush()
        try:
            yield
        except BaseException:
            self.stream.write(f" ✗ {title} (failed after {time.monotonic() - start:.0f}s)\n")
            raise
        self.stream.write(f" ✓ {title} ({time.monotonic() - start:.0f}s)\n")
        self.stream.flush()

    def info(self, message: str) -> None:
        self.stream.write(f"   {message}\n")
        self.stream.flush()
