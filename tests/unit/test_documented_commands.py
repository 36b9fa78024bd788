"""Every `kubedefis ...` command line the project writes down for people or CI parses.

A renamed option (`kubedefis release --release-tag` became `--site-version`) once left défi 19's
hand-in and the release workflow calling an option that no longer exists. The command lines are
read where they are meant to be typed or run: shell blocks of the Markdown files, the hand-ins'
`commands.txt`, and the `run:` steps of the GitHub workflows.
"""

from __future__ import annotations

import re
import shlex

import pytest

from kubedefis.commands import cli
from kubedefis.core import paths

ROOT = paths.REPO_ROOT
FENCE = re.compile(r"^```(\w*)\s*$")
SHELL_FENCES = {"", "sh", "bash", "console", "shell"}
# Where a line of shell starts a kubedefis command: at its start, after a venv's bin, a prompt or `;`/`&&`.
COMMAND = re.compile(r"(?:^|[;&|]\s*|\$\s+)(?:\S*/)?kubedefis\s+(.*)$")


def shell_lines() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for md in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "defis").glob("*/*.md"))]:
        fence: str | None = None
        for line in md.read_text().splitlines():
            if m := FENCE.match(line.strip()):
                fence = None if fence is not None else m.group(1)
            elif fence in SHELL_FENCES:
                found.append((str(md.relative_to(ROOT)), line))
    for txt in sorted((ROOT / "defis").glob("*/commands.txt")):
        found += [(str(txt.relative_to(ROOT)), line) for line in txt.read_text().splitlines()]
    for workflow in sorted((ROOT / ".github/workflows").glob("*.yml")):
        for line in workflow.read_text().splitlines():
            if (step := line.strip()).startswith(("- run:", "run:")):
                found.append((str(workflow.relative_to(ROOT)), step.split("run:", 1)[1]))
    return found


def documented_commands() -> list[tuple[str, str]]:
    commands = []
    for where, line in shell_lines():
        line = re.sub(r"\$\{\{[^}]*\}\}", "x", line.split(" #", 1)[0])
        for part in re.split(r";|&&|\|\|", line):
            m = COMMAND.search(part.strip())
            # `[--option]`, `<name>` and `...` are the reader's to fill in, not a command line;
            # `kubedefis doctor: Debian ...` is a command's output shown in the block
            if m and not re.search(r"[\[<]|\.\.\.|^\S+:", m.group(1)):
                commands.append((where, m.group(1).strip()))
    return commands


COMMANDS = documented_commands()


def test_the_documents_hold_command_lines() -> None:
    places = {where for where, _ in COMMANDS}
    assert len(COMMANDS) >= 20 and any(p.startswith(".github/") for p in places), COMMANDS
    assert any(p.endswith("commands.txt") for p in places) and "README.md" in places, places


@pytest.mark.parametrize(("where", "command"), COMMANDS, ids=[f"{w}: {c}" for w, c in COMMANDS])
def test_a_documented_command_parses(where: str, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    words = shlex.split(command.replace("$", "x"))
    try:
        cli.build_parser().parse_args(words)
    except SystemExit as exc:
        pytest.fail(f"{where}: `kubedefis {command}` does not parse (exit {exc.code}): {capsys.readouterr().err}")
