"""The internet's registries, stood in for on this machine, so the online path can run here.

This machine reaches no container registry. An online user's `make up` pulls kind's node image from
Docker Hub (through dockerd), `debian:trixie-slim` for the stack's builds (dockerd too), and the
add-ons from Docker Hub and registry.k8s.io (through the node's containerd). Here those same names
are served by the CNCF `distribution` registry, built from its Go module, holding the images the
offline build made, pushed under their upstream names and tags. dockerd's `registry-mirrors` and the
node's containerd (KUBEDEFIS_REGISTRY_MIRROR, a product setting for any pull-through cache) ask it
first; the code under test sees upstream names only.

Everything this changes on the host is undone by `Mirror.close()`: dockerd's configuration is put
back (and reloaded), and the upstream-named images the test pulled are untagged again, so the
offline path's auto mode ("offline unless kind's node image is there") is not fooled afterwards.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from kubedefis.core import paths, versions
from kubedefis.core.errors import KubedefisError
from kubedefis.core.shell import Status, run
from kubedefis.core.waits import Check, wait_for
from kubedefis.localcluster import engine, gobuild, plan, provider, rootfs

REGISTRY = gobuild.GoTool(
    "registry",
    "github.com/distribution/distribution/v3",
    "v3.1.2",
    ("github.com/distribution/distribution/v3/cmd/registry",),
)
PORT = int(os.environ.get("KUBEDEFIS_MIRROR_PORT", "5000"))
LOCAL = f"127.0.0.1:{PORT}"  # how dockerd (on this host) reaches it
SLIM = f"debian:{versions.DEBIAN_SUITE}-slim"


def upstream_path(ref: str) -> str:
    """A reference's repository path inside its registry: docker.io/library/traefik:v3 -> library/traefik:v3."""
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        ref = rest
    if "/" not in ref.split(":")[0]:
        ref = f"library/{ref}"
    return ref


def served_images(status: Status) -> dict[str, str]:
    """Local image (the offline build's) -> the upstream name an online run pulls it by."""
    node, addons = plan.build_offline(status)
    upstream = provider.upstream_addon_images()
    return {
        node: upstream_path(versions.UPSTREAM_NODE_IMAGE),
        rootfs.ensure_slim_image(status): upstream_path(SLIM),
        addons["traefik"]: upstream_path(upstream["traefik"]),
        addons["metrics_server"]: upstream_path(upstream["metrics_server"]),
    }


def bridge_gateway() -> str:
    """The host as containers see it (the default bridge's gateway): how the kind node reaches the mirror.

    Older engines (Debian's docker.io 20.10) list only the subnet: the gateway is its first address.
    """
    out = run(["docker", "network", "inspect", "bridge", "--format", "{{json .IPAM.Config}}"]).stdout
    for config in json.loads(out) or []:
        if config.get("Gateway"):
            return str(config["Gateway"])
        if config.get("Subnet") and ":" not in config["Subnet"]:
            return str(next(ipaddress.ip_network(config["Subnet"]).hosts()))
    raise KubedefisError(f"docker's default bridge has no IPv4 subnet ({out.strip()}): the node cannot reach it")


def dockerd_pid() -> int:
    out = subprocess.run(["pidof", "dockerd"], capture_output=True, text=True).stdout.split()
    if len(out) != 1:
        raise KubedefisError(f"expected one dockerd process, found {out or 'none'}: cannot reload its mirrors")
    return int(out[0])


def dockerd_mirrors() -> list[str]:
    out = run(["docker", "info", "--format", "{{json .RegistryConfig.Mirrors}}"]).stdout.strip()
    return [m.rstrip("/") for m in (json.loads(out) or [])]


@dataclass
class Mirror:
    status: Status
    process: subprocess.Popen[bytes] | None = None
    daemon_json: str | None = None  # dockerd's configuration before we added the mirror
    pulled: list[str] = field(default_factory=list)  # upstream names to untag again
    untagged: dict[str, str] = field(default_factory=dict)  # name -> image id, to restore if not pulled back

    @property
    def node_url(self) -> str:
        return f"http://{bridge_gateway()}:{PORT}"

    def start(self) -> None:
        binary = gobuild.build(REGISTRY, self.status).binary()
        data = paths.cache_root() / "mirror"
        data.mkdir(parents=True, exist_ok=True)
        config = data / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log: {level: warn}\n"
            f"storage: {{filesystem: {{rootdirectory: {data / 'storage'}}}, delete: {{enabled: true}}}}\n"
            f"http: {{addr: '0.0.0.0:{PORT}'}}\n"
        )
        log = (data / "registry.log").open("wb")
        env = {**os.environ, "OTEL_TRACES_EXPORTER": "none"}  # it would export traces to localhost:4318
        self.process = subprocess.Popen(
            [str(binary), "serve", str(config)], stdout=log, stderr=subprocess.STDOUT, env=env
        )

        def answers() -> Check[None]:
            try:
                with urllib.request.urlopen(f"http://{LOCAL}/v2/", timeout=2) as reply:
                    return Check(reply.status == 200, None, f"GET /v2/: {reply.status}")
            except OSError as exc:
                return Check(False, None, f"GET /v2/: {exc}")

        def exited(_: Check[None]) -> str | None:
            code = self.process.poll() if self.process else None
            return None if code is None else f"the registry exited with {code}: {data / 'registry.log'}"

        wait_for(f"the registry on {LOCAL}", answers, timeout=30, interval=0.3, fail_fast=exited)

    def publish(self) -> dict[str, str]:
        """Push the offline build's images under their upstream names; returns them."""
        served = served_images(self.status)
        for local, name in served.items():
            with self.status.step(f"Serving {local} as {name}"):
                self.push(local, name)
        return served

    @staticmethod
    def push(local: str, name: str) -> None:
        """Serve the local image `local` as `name` (its path in the registry, upstream_path's form)."""
        run(["docker", "tag", local, f"{LOCAL}/{name}"])
        run(["docker", "push", "-q", f"{LOCAL}/{name}"])
        run(["docker", "rmi", f"{LOCAL}/{name}"])

    def forget(self, names: list[str]) -> None:
        """Untag these images, so an online run must pull (or build) them again; put back at close."""
        for name in names:
            if rootfs.image_exists(name):
                self.untagged[name] = run(["docker", "image", "inspect", "--format", "{{.Id}}", name]).stdout.strip()
                run(["docker", "rmi", "--no-prune", name])

    def forget_upstream_names(self) -> None:
        """Untag the upstream names dockerd holds, so an online run must pull them (through the mirror)."""
        self.forget([versions.UPSTREAM_NODE_IMAGE, SLIM])
        self.pulled.append(versions.UPSTREAM_NODE_IMAGE)

    def mirror_dockerd(self) -> None:
        """dockerd asks the mirror first for Docker Hub images (registry-mirrors is reloaded on SIGHUP)."""
        if not os.access(engine.DAEMON_JSON.parent if engine.DAEMON_JSON.parent.exists() else "/etc", os.W_OK):
            raise KubedefisError(f"this test writes {engine.DAEMON_JSON} and reloads dockerd: run it as root")
        current = engine.DAEMON_JSON.read_text() if engine.DAEMON_JSON.exists() else "{}"
        settings = json.loads(current)
        settings["registry-mirrors"] = [f"http://{LOCAL}"]
        self.daemon_json = current
        engine.DAEMON_JSON.parent.mkdir(parents=True, exist_ok=True)
        engine.DAEMON_JSON.write_text(json.dumps(settings, indent=2) + "\n")
        self._reload(lambda mirrors: f"http://{LOCAL}" in mirrors)

    def _reload(self, done: object) -> None:
        os.kill(dockerd_pid(), signal.SIGHUP)
        wait_for(
            "dockerd to reload its registry mirrors",
            lambda: Check(done(dockerd_mirrors()), None, f"mirrors: {dockerd_mirrors()}"),  # type: ignore[operator]
            timeout=30,
            interval=0.5,
        )

    def close(self) -> None:
        problems: list[str] = []
        if self.daemon_json is not None:
            # A key absent from daemon.json keeps its running value on reload: say the old mirrors
            # explicitly, reload, then put the file back as it was (the same settings).
            settings = json.loads(self.daemon_json)
            settings.setdefault("registry-mirrors", [])
            engine.DAEMON_JSON.write_text(json.dumps(settings, indent=2) + "\n")
            try:
                self._reload(lambda mirrors: f"http://{LOCAL}" not in mirrors)
            except KubedefisError as exc:
                problems.append(str(exc))
            engine.DAEMON_JSON.write_text(self.daemon_json)
            self.daemon_json = None
        for name in self.pulled:
            if rootfs.image_exists(name):
                subprocess.run(["docker", "rmi", "--no-prune", name], capture_output=True)
        for name, image_id in self.untagged.items():
            if not rootfs.image_exists(name):
                subprocess.run(["docker", "tag", image_id, name], capture_output=True)
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None
        if problems:
            raise KubedefisError("; ".join(problems))


def stand_ins(
    ours: Iterable[str], upstream: Iterable[str], path: Callable[[str], str] = upstream_path
) -> dict[str, str]:
    """Our builds standing in for upstream's images, pair by pair: local image -> upstream's path in the mirror."""
    return {local: path(ref) for local, ref in zip(ours, upstream, strict=True)}


def delete_cluster(name: str) -> None:
    """Delete the kind cluster `name` (an online test's own); nothing if there is none."""
    kind = paths.bin_dir() / f"kind-{versions.KIND}" / "kind"
    subprocess.run([str(kind), "delete", "cluster", "--name", name], capture_output=True)


@contextmanager
def mirrored(cluster: str, more: Callable[[], dict[str, str]] = dict, forget: Sequence[str] = ()) -> Iterator[Mirror]:
    """The mirror serving the offline build's images under their upstream names, dockerd asking it first.

    `more` gives further images to serve (local image -> path in the registry), made once the
    registry runs; `forget` names images to untag besides the upstream ones (an online run must
    pull or build them again). At the end the online run's kind cluster `cluster` is deleted and
    the host is put back (Mirror.close).
    """
    served = Mirror(Status())
    try:
        served.start()
        served.publish()
        for local, name in more().items():
            served.push(local, name)
        served.forget_upstream_names()
        served.forget(list(forget))
        served.mirror_dockerd()
        yield served
    finally:
        delete_cluster(cluster)
        served.close()


def online_env(mirror: Mirror, cluster: str, http_port: int | str, https_port: int | str) -> dict[str, str]:
    """The environment of a kubedefis command run online (KUBEDEFIS_OFFLINE=0) on its own cluster, via the mirror."""
    return {
        **os.environ,
        "KUBEDEFIS_OFFLINE": "0",
        "KUBEDEFIS_CLUSTER": cluster,
        "KUBEDEFIS_HTTP_PORT": str(http_port),
        "KUBEDEFIS_HTTPS_PORT": str(https_port),
        "KUBEDEFIS_REGISTRY_MIRROR": mirror.node_url,
    }


def elapsed(start: float) -> str:
    seconds = time.monotonic() - start
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


def run_online(args: list[str], env: dict[str, str], timeout: float, what: str) -> tuple[str, str, float]:
    """`python -m kubedefis ARGS` in the online environment, which must succeed: (stdout, the tails of
    stdout and stderr, seconds)."""
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "kubedefis", *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    seconds = time.monotonic() - start
    output = f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert done.returncode == 0, f"online {what} failed ({elapsed(start)}):\n{output}"
    return done.stdout, output, seconds
