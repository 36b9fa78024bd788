"""provider.load_images: one loader per cluster at a time; a lane that waited finds the images loaded.

Session 18, on a new node: the suite's four lanes all started by loading the stack's images, four
copies of each at once, and a lane's first stage took 130 s longer than on a node that had them.
"""

from __future__ import annotations

import subprocess
import threading
import time
from types import SimpleNamespace

from kubedefis.core.shell import Status
from kubedefis.localcluster import provider


def test_lanes_loading_the_same_images_load_each_once(tmp_path, monkeypatch):
    node: set[str] = set()  # what the node's containerd has
    loads: list[str] = []
    loading = threading.Event()

    def run(command, **kwargs):
        if command[:2] == ["docker", "exec"]:
            return subprocess.CompletedProcess(command, 0, "\n".join(sorted(node)), "")
        return subprocess.CompletedProcess(command, 0, "sha256:same\n", "")  # docker image inspect

    def load(image: str) -> None:
        loading.set()
        loads.append(image)
        time.sleep(0.2)  # a load takes a while: the other lane asks meanwhile
        node.add(f"docker.io/{image}")

    monkeypatch.setattr(provider, "run", run)
    monkeypatch.setattr(provider, "_node_image_ids", lambda spec, ref: "sha256:same" if ref in node else "")
    monkeypatch.setattr(provider, "kind_cluster", lambda spec: SimpleNamespace(load_docker_image=load))
    spec = SimpleNamespace(state_dir=tmp_path / "cluster", node_container="kd-control-plane")
    images = ["kubedefis/api:abc", "kubedefis/public:abc"]

    lanes = [threading.Thread(target=provider.load_images, args=(spec, images, Status())) for _ in range(4)]
    for lane in lanes:
        lane.start()
    for lane in lanes:
        lane.join(timeout=10)
    assert loading.is_set()
    assert sorted(loads) == images  # each once, not once per lane
    assert node == {f"docker.io/{i}" for i in images}
