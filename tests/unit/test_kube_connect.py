"""A wrong kubeconfig gets one clear line, never a traceback."""

from pathlib import Path

import pytest

from kubedefis.core import kube
from kubedefis.core.errors import KubedefisError

UNREACHABLE = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


def test_missing_kubeconfig(tmp_path: Path):
    with pytest.raises(KubedefisError, match="does not exist"):
        kube.connect(tmp_path / "none")


def test_unreachable_api_server(tmp_path: Path):
    f = tmp_path / "config"
    f.write_text(UNREACHABLE)
    with pytest.raises(KubedefisError, match=r"https://127\.0\.0\.1:1 .* does not answer"):
        kube.connect(f, timeout=2)


def test_unknown_context(tmp_path: Path):
    f = tmp_path / "config"
    f.write_text(UNREACHABLE)
    with pytest.raises(KubedefisError, match="not usable"):
        kube.connect(f, context="nope")


def test_garbage_kubeconfig(tmp_path: Path):
    f = tmp_path / "config"
    f.write_text("this: [is not a kubeconfig")
    with pytest.raises(KubedefisError):
        kube.connect(f)
