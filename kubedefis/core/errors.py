"""The one error type the CLI turns into a clear message instead of a traceback."""

from __future__ import annotations


class KubedefisError(Exception):
    """A failure the user can act on: the message says what went wrong and what to do."""


class CommandError(KubedefisError):
    """An external command failed; keeps the command and the tail of its output."""

    def __init__(self, command: list[str], returncode: int, output: str) -> None:
        self.command = command
        self.returncode = returncode
        self.output = output
        tail = "\n".join(output.strip().splitlines()[-25:])
        super().__init__(f"command failed (exit {returncode}): {' '.join(command)}\n{tail}")
