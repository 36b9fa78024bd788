"""Helm through pyhelm3 (async) behind a small synchronous facade, plus what pyhelm3 lacks (`helm test`, lint)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import re
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pyhelm3 import Client
from pyhelm3.errors import Error as PyHelmError

from kubedefis.core.errors import KubedefisError
from kubedefis.core.shell import run

GIVE_UP_POLL = 3.0  # seconds between two looks at why an install may never finish


def _descendants(root: int) -> list[tuple[int, list[str]]]:
    """(pid, argv) of every process below `root`, read from /proc (none where there is no /proc)."""
    children: dict[int, list[int]] = {}
    argv: dict[int, list[str]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])  # the command may hold spaces and parentheses
            argv[int(entry.name)] = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except (OSError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append((pid, argv.get(pid, [])))
        todo += children.get(pid, [])
    return found


def merge_values(*layers: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of values files: maps merge key by key, later layers win elsewhere."""
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge_values(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
    return out


def load_values(files: Iterable[Path]) -> dict[str, Any]:
    layers = []
    for file in files:
        try:
            layers.append(yaml.safe_load(Path(file).read_text()) or {})
        except FileNotFoundError as exc:
            raise KubedefisError(f"values file {file} does not exist") from exc
        except yaml.YAMLError as exc:
            raise KubedefisError(f"values file {file} is not valid YAML: {exc}") from exc
    return merge_values(*layers)


@dataclass
class Helm:
    executable: Path
    kubeconfig: str | None = None
    context: str | None = None

    def _client(self) -> Client:
        return Client(
            executable=str(self.executable),
            kubeconfig=Path(self.kubeconfig) if self.kubeconfig else None,
            kubecontext=self.context,
            default_timeout="10m",
        )

    def _run(self, coro):  # type: ignore[no-untyped-def]
        try:
            return asyncio.run(coro)
        except PyHelmError as exc:
            raise KubedefisError(f"helm: {str(exc).strip()[-3000:]}") from exc

    def template(self, chart: Path, release: str, values: dict[str, Any], namespace: str = "default") -> list[dict]:
        async def go() -> list[dict]:
            client = self._client()
            loaded = await client.get_chart(chart)
            return [r for r in await client.template_resources(loaded, release, values, namespace=namespace) if r]

        return self._run(go())

    def upgrade_install(
        self,
        chart: Path,
        release: str,
        namespace: str,
        values: dict[str, Any],
        timeout: float = 600,
        wait: bool = True,
        give_up: Callable[[], str | None] | None = None,
    ) -> Any:
        """`helm upgrade --install`; with give_up, asked every few seconds, stop Helm when it says why."""

        async def go() -> Any:
            client = self._client()
            loaded = await client.get_chart(chart)
            helm = asyncio.ensure_future(
                client.install_or_upgrade_release(
                    release,
                    loaded,
                    values,
                    namespace=namespace,
                    create_namespace=True,
                    wait=wait,
                    timeout=f"{int(timeout)}s",
                )
            )
            while give_up is not None:
                done, _ = await asyncio.wait({helm}, timeout=GIVE_UP_POLL)
                if done:
                    break
                reason = await asyncio.to_thread(give_up)
                if reason:
                    self._terminate_own_helm(release)
                    helm.cancel()
                    await asyncio.gather(helm, return_exceptions=True)
                    raise KubedefisError(f"helm upgrade --install {release} stopped: {reason}")
            return await helm

        return self._run(go())

    def _terminate_own_helm(self, release: str) -> None:
        """Stop the `helm upgrade` of the release that this process started: a stopped install must not run on.

        pyhelm3 runs helm through `sh -c`; cancelling its task terminates the shell only, and helm,
        holding the pipes pyhelm3 then reads to their end, ran until its own --timeout (10 minutes
        for a stage whose migration could never succeed). helm handles SIGTERM: it cancels the
        release's wait and exits.
        """
        for pid, argv in _descendants(os.getpid()):
            if argv[:2] == [str(self.executable), "upgrade"] and release in argv:
                with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                    os.kill(pid, signal.SIGTERM)

    def uninstall(self, release: str, namespace: str) -> None:
        async def go() -> None:
            await self._client().uninstall_release(release, namespace=namespace, wait=True)

        self._run(go())

    def revision(self, release: str, namespace: str) -> Any:
        async def go() -> Any:
            return await self._client().get_current_revision(release, namespace=namespace)

        return self._run(go())

    def _command(self) -> list[str]:
        command = [str(self.executable)]
        if self.kubeconfig:
            command += ["--kubeconfig", self.kubeconfig]
        if self.context:
            command += ["--kube-context", self.context]
        return command

    def test(self, release: str, namespace: str, timeout: float = 300) -> str:
        """`helm test` (pyhelm3 has no wrapper for it); raises CommandError naming the failed pods.

        Not `--logs`: Helm reads the logs once every test has run, after a `hook-succeeded` delete
        policy has removed the pods that passed, and then fails on them ("unable to get pod logs for
        kd-test-db-denied: pods ... not found"): a release whose tests all pass was never promoted.
        A failed test pod is kept by that policy; `failed_test_pods` names them for their logs.
        """
        return run([*self._command(), "test", release, "-n", namespace, f"--timeout={int(timeout)}s"]).stdout

    def template_sources(
        self, chart: Path, release: str, values: dict[str, Any], namespace: str = "default"
    ) -> list[tuple[str, dict]]:
        """`helm template`, each object with the template that rendered it (Helm's `# Source:` line,
        `<chart>/charts/<subchart>/templates/<file>` for a subchart's), which pyhelm3's parsing drops."""
        command = [str(self.executable), "template", release, str(chart), "--namespace", namespace, "-f", "-"]
        out = run(command, input=yaml.safe_dump(values)).stdout
        rendered = []
        for document in out.split("\n---"):
            source = next(
                (line.split(":", 1)[1].strip() for line in document.splitlines() if line.startswith("# Source:")), ""
            )
            obj = yaml.safe_load(document)
            if isinstance(obj, dict) and obj:
                rendered.append((source, obj))
        return rendered

    def lint(self, chart: Path, values_files: Iterable[Path] = (), strict: bool = True) -> str:
        command = [str(self.executable), "lint", str(chart)]
        command += [arg for f in values_files for arg in ("-f", str(f))]
        if strict:
            command.append("--strict")
        return run(command).stdout

    def list_releases(self, namespace: str) -> list[str]:
        out = run([*self._command(), "list", "-n", namespace, "-q", "-a"]).stdout
        return [line for line in out.split() if line]

    def history(self, release: str, namespace: str) -> list[dict]:
        out = run([*self._command(), "history", release, "-n", namespace, "-o", "yaml"]).stdout
        return yaml.safe_load(out) or []


def failed_test_pods(output: str) -> list[str]:
    """The test pods `helm test` reports failed (`pod kd-test-http failed`), in its order."""
    return list(dict.fromkeys(re.findall(r"\bpod (\S+) failed\b", output)))
