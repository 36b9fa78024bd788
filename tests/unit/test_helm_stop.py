"""A stopped install stops helm itself, not only the shell pyhelm3 runs it through."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from kubedefis.core.helm import Helm


def test_the_helm_upgrade_under_a_shell_is_terminated(tmp_path, monkeypatch):
    # A stand-in for helm: Python under the name <tmp>/helm, running the file `upgrade` (helm's argv).
    helm = tmp_path / "helm"
    helm.symlink_to(sys.executable)
    (tmp_path / "upgrade").write_text("import time\ntime.sleep(600)\n")
    monkeypatch.chdir(tmp_path)
    # as pyhelm3 starts it: through `sh -c`; `; true` keeps the shell from exec'ing helm in its place
    shell = subprocess.Popen(["sh", "-c", f"{helm} upgrade kd-release ./chart --wait; true"])
    other = subprocess.Popen([str(helm), "upgrade", "another-release"])  # another release's: left alone
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and shell.poll() is None:
            Helm(helm)._terminate_own_helm("kd-release")
            try:
                shell.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                continue
        assert shell.returncode is not None, "helm still runs under the shell"
        assert other.poll() is None
    finally:
        for proc in (shell, other):
            proc.kill()
            proc.wait()


def test_nothing_is_terminated_when_no_helm_runs():
    Helm(Path("/nonexistent/helm"))._terminate_own_helm("kd-release")  # no error, nothing to stop
