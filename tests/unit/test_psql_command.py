"""psql in a database container runs as the image's database user (kubedefis.stack.database.psql_command).

The official `postgres` image runs `kubectl exec` as root; psql would then ask for a role "root".
The command is run here with a stand-in `psql` that prints its arguments.
"""

import os
import subprocess
from pathlib import Path

import pytest

from kubedefis.stack.database import psql_command


def run_in(tmp_path: Path, env: dict[str, str]) -> str:
    fake = tmp_path / "psql"
    fake.write_text('#!/bin/sh\necho "$@"\n')
    fake.chmod(0o755)
    clean = {k: v for k, v in os.environ.items() if k not in ("PGUSER", "POSTGRES_USER")}
    clean |= {"PATH": f"{tmp_path}:{os.environ['PATH']}", **env}
    done = subprocess.run(psql_command("-d", "site"), env=clean, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.mark.skipif(os.geteuid() != 0, reason="the root branch: the tests run as root here and in CI")
@pytest.mark.parametrize(
    "env, user",
    [({}, "postgres"), ({"POSTGRES_USER": "garagiste"}, "garagiste"), ({"PGUSER": "a", "POSTGRES_USER": "b"}, "a")],
)
def test_as_root_psql_connects_as_the_images_user(tmp_path: Path, env: dict[str, str], user: str) -> None:
    assert run_in(tmp_path, env) == f"-U {user} -d site"


def test_the_arguments_pass_through_unchanged() -> None:
    command = psql_command("-X", "-F", "\t", "-d", "x y")
    assert command[:2] == ["sh", "-c"] and command[3:] == ["psql", "-X", "-F", "\t", "-d", "x y"]
