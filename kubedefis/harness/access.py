"""Reaching the stack from outside: the Ingress on the host, kubectl port-forward, kubectl proxy."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import urllib3

from kubedefis.core.errors import KubedefisError
from kubedefis.core.waits import Check, wait_for

_HTTP = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=30))


WRITES = ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")

    def json(self):  # type: ignore[no-untyped-def]
        import json

        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<{self.status} {self.headers.get('content-type', '')} {self.text[:300]!r}>"


def http(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | str | None = None,
    timeout: float = 30.0,
) -> Response:
    data = body.encode() if isinstance(body, str) else body
    resp = _HTTP.request(method, url, headers=headers or {}, body=data, timeout=timeout, redirect=False)
    return Response(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.data)


@dataclass(frozen=True)
class IngressEndpoint:
    """Where the Ingress controller answers from this machine, and the Host it must be asked for."""

    address: str  # 127.0.0.1 for our kind cluster
    http_port: int
    https_port: int
    host: str
    token: str | None = None  # bearer token sent with every write (POST, PUT, PATCH, DELETE)

    def anonymous(self) -> IngressEndpoint:
        """The same endpoint without credentials (to check what an anonymous caller may do)."""
        return dataclasses.replace(self, token=None)

    def url(self, path: str = "/", scheme: str = "http") -> str:
        port = self.http_port if scheme == "http" else self.https_port
        return f"{scheme}://{self.host}:{port}{path}"

    def request(
        self,
        method: str,
        path: str = "/",
        *,
        scheme: str = "http",
        headers: dict[str, str] | None = None,
        body: bytes | str | None = None,
        timeout: float = 30.0,
    ) -> Response:
        """Connect to the controller's address but present the Ingress host (Host header, and SNI for TLS)."""
        port = self.http_port if scheme == "http" else self.https_port
        all_headers = {"Host": self.host if port in (80, 443) else f"{self.host}:{port}", **(headers or {})}
        if self.token and method.upper() in WRITES and "Authorization" not in all_headers:
            all_headers["Authorization"] = f"Bearer {self.token}"
        data = body.encode() if isinstance(body, str) else body
        if scheme == "https":
            pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
                self.address,
                port,
                server_hostname=self.host,
                assert_hostname=False,
                cert_reqs="CERT_NONE",
                retries=False,
                timeout=urllib3.Timeout(connect=5, read=timeout),
            )
        else:
            pool = urllib3.HTTPConnectionPool(
                self.address, port, retries=False, timeout=urllib3.Timeout(connect=5, read=timeout)
            )
        with pool:
            resp = pool.request(method, path, headers=all_headers, body=data, redirect=False)
        return Response(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.data)

    def get(self, path: str = "/", **kwargs) -> Response:  # type: ignore[no-untyped-def]
        return self.request("GET", path, **kwargs)


def wait_http(what: str, fetch, *, expect=lambda r: r.status == 200, timeout: float = 120.0, in_a_row: int = 1):  # type: ignore[no-untyped-def]
    """Poll an HTTP call until `expect(response)` holds `in_a_row` times running.

    The last response or error is the state.

    `in_a_row` > 1 is for a Service whose pods start at different times and have no readiness probe
    (défi 3): one answer says one pod is up, and the proxy picks an endpoint at random per request.
    """

    def poll() -> Check[Response]:
        for done in range(in_a_row):
            response = fetch()
            if not expect(response):
                streak = f" after {done} good answer(s) in a row" if done else ""
                return Check(False, response, f"HTTP {response.status}{streak}: {response.text[:200]!r}")
        return Check(True, response, f"HTTP {response.status} ({in_a_row} in a row)")

    return wait_for(what, poll, timeout=timeout, interval=1.0)


class _Background:
    """A long-running kubectl whose first output line tells us the local port it serves on."""

    def __init__(self, command: list[str], pattern: str, what: str, timeout: float) -> None:
        self.what = what
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.port: int | None = None
        self._ready = threading.Event()
        self._pattern = re.compile(pattern)
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(timeout) or self.port is None:
            self.stop()
            raise KubedefisError(f"{what} did not start within {timeout:.0f}s: {' '.join(self.lines)[-500:]}")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.strip())
            match = self._pattern.search(line)
            if match and self.port is None:
                self.port = int(match.group(1))
                self._ready.set()
        self._ready.set()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@contextmanager
def port_forward(
    kubectl: list[str], namespace: str, resource: str, remote_port: int, timeout: float = 30.0
) -> Iterator[int]:
    """`kubectl port-forward` to a free local port (kubectl picks it and prints it).

    `kubectl` is the command with its connection flags (kubeconfig, context).
    """
    command = [*kubectl, "-n", namespace, "port-forward", "--address", "127.0.0.1", resource, f":{remote_port}"]
    forward = _Background(command, r"Forwarding from 127\.0\.0\.1:(\d+)", f"port-forward to {resource}", timeout)
    try:
        yield forward.port  # type: ignore[misc]
    finally:
        forward.stop()


@contextmanager
def kubectl_proxy(kubectl: list[str], timeout: float = 30.0) -> Iterator[str]:
    """`kubectl proxy` on a free local port; yields its base URL."""
    command = [*kubectl, "proxy", "--port=0"]
    proxy = _Background(command, r"Starting to serve on 127\.0\.0\.1:(\d+)", "kubectl proxy", timeout)
    try:
        yield f"http://127.0.0.1:{proxy.port}"
    finally:
        proxy.stop()


def service_proxy_path(namespace: str, service: str, port: str | int | None = None, path: str = "/") -> str:
    """The API server's proxy path to a Service (the URL the course gives for défi 2)."""
    name = f"{service}:{port}" if port is not None else service
    return f"/api/v1/namespaces/{namespace}/services/{name}/proxy{path}"
