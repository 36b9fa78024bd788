"""`vms.console_prompt` (défi 21's D21.3) against a stand-in for KubeVirt's console websocket.

- the URL is the VMI's console subresource on the kubeconfig's server, the subprotocol KubeVirt's
  `plain.kubevirt.io`, a bearer token passed along when the kubeconfig has one;
- Enter is pressed, the bytes read until the prompt: what was read comes back;
- a refused handshake (virt-handler finding no socket: session 10's "bad handshake"), a console that
  stays silent, and one that closes are errors saying what was seen, never a pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes import client
from websocket import ABNF, WebSocketBadStatusException, WebSocketTimeoutException

from kubedefis.core.errors import KubedefisError
from kubedefis.stack import vms

PROMPT = re.compile(r"login: *$", re.MULTILINE)


@dataclass
class FakeConsole:
    """Answers each Enter with the next chunk of `replies`; silent (timeouts) once they are spent."""

    replies: list[bytes]
    close_after: bool = False
    sent: list[bytes] = field(default_factory=list)
    closed: bool = False
    pending: list[tuple[int, bytes]] = field(default_factory=list)

    def settimeout(self, seconds: float) -> None:
        self.timeout = seconds

    def send_binary(self, data: bytes) -> None:
        self.sent.append(data)
        if self.replies:
            self.pending.append((ABNF.OPCODE_BINARY, self.replies.pop(0)))
        elif self.close_after:
            self.pending.append((ABNF.OPCODE_CLOSE, b""))

    def recv_data(self) -> tuple[int, bytes]:
        if self.pending:
            return self.pending.pop(0)
        raise WebSocketTimeoutException("timed out")

    def close(self) -> None:
        self.closed = True


def kube(token: str | None = None) -> Any:
    conf = client.Configuration()
    conf.host = "https://127.0.0.1:6443"
    if token:
        conf.api_key = {"authorization": token}
        conf.api_key_prefix = {"authorization": "Bearer"}
    return SimpleNamespace(api_client=SimpleNamespace(configuration=conf))


@pytest.fixture
def opened(monkeypatch):
    calls: list[tuple[str, dict[str, str]]] = []

    def install(console: FakeConsole | Exception) -> list[tuple[str, dict[str, str]]]:
        def create(conf, url, headers):
            calls.append((url, headers))
            if isinstance(console, Exception):
                raise console
            return console

        monkeypatch.setattr(vms, "create_websocket", create)
        monkeypatch.setattr(vms, "CONSOLE_NUDGE", 0.0)  # Enter again at each silent read
        return calls

    return install


def test_enter_brings_the_login_prompt_back(opened):
    console = FakeConsole([b"\r\n\r\nDebian GNU/Linux 13 vm1 ttyS0\r\n\r\nvm1 login: "])
    calls = opened(console)
    text = vms.console_prompt(kube(), "u-minet", "vm1", PROMPT, timeout=5)
    assert text.endswith("vm1 login: ")
    assert console.sent[0] == b"\r" and console.closed
    ((url, headers),) = calls
    assert (
        url
        == "wss://127.0.0.1:6443/apis/subresources.kubevirt.io/v1/namespaces/u-minet/virtualmachineinstances/vm1/console"
    )
    assert headers == {"sec-websocket-protocol": "plain.kubevirt.io"}


def test_a_bearer_token_goes_along(opened):
    calls = opened(FakeConsole([b"vm1 login: "]))
    vms.console_prompt(kube(token="abc"), "u-minet", "vm1", PROMPT, timeout=5)
    assert calls[0][1]["authorization"] == "Bearer abc"


def test_a_prompt_split_across_frames_is_found(opened):
    console = FakeConsole([b"vm1 lo", b"gin: "])
    opened(console)
    assert vms.console_prompt(kube(), "u-minet", "vm1", PROMPT, timeout=5) == "vm1 login: "
    assert len(console.sent) == 2  # the first chunk alone did not match: Enter again after the silence


def test_a_refused_handshake_is_an_error_with_its_reason(opened):
    body = b"stat /proc/4242/root/var/run/kubevirt-private/.../virt-serial0: no such file or directory"
    opened(
        WebSocketBadStatusException(
            f"Handshake status 400 Bad Request -+-+- {{}} -+-+- {body!r}", 400, "Bad Request", {}, body
        )
    )
    with pytest.raises(
        KubedefisError,
        match=r"serial console of u-minet/vm1 did not open: Handshake status 400.*virt-serial0: no such file",
    ):
        vms.console_prompt(kube(), "u-minet", "vm1", PROMPT, timeout=5)


def test_a_console_that_never_prompts_is_an_error_with_what_it_said(opened):
    opened(FakeConsole([b"[  OK  ] Started ssh.service\r\n"]))
    with pytest.raises(KubedefisError, match=r"expected 'login: \*\$'.*within 1s.*ssh\.service"):
        vms.console_prompt(kube(), "u-minet", "vm1", PROMPT, timeout=1)


def test_a_console_closed_before_the_prompt_is_an_error(opened):
    console = FakeConsole([b"boot"], close_after=True)
    opened(console)
    with pytest.raises(KubedefisError, match=r"found b'boot'"):
        vms.console_prompt(kube(), "u-minet", "vm1", PROMPT, timeout=30)
    assert console.closed
