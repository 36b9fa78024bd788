"""Load while something changes: Locust scenarios run headless in a subprocess, results read back.

    with load.run(load.Scenario.site(endpoint, "Browser", "ApiClient"), users=8, duration=240) as running:
        upgrade_the_stack()
        running.stop()
    result = running.result  # per-request failures and latency percentiles
    assert result.total.failures == 0, result.report()

Locust runs in its own process (`python -m locust --headless`): its gevent monkey-patching must
not reach pytest. The run is bounded twice: Locust's own `--run-time`, and a deadline after
which the process is killed. Requests go to the Ingress controller's address (127.0.0.1:8080)
with the Ingress host in the Host header, which the locustfiles read from KUBEDEFIS_HOST_HEADER
(`*.localhost` names do not resolve through glibc here). Results come from Locust's CSV files:
one row per request name (count, failures, percentiles) and one per distinct failure.

`in_cluster` runs a standard-library script (loadtests/attack.py) in a pod instead: an attacker
elsewhere on the network, whose address is not the one the legitimate users share.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubedefis.core import paths
from kubedefis.core.errors import KubedefisError
from kubedefis.core.waits import Check, wait_for
from kubedefis.harness.target import Site

LOADTESTS = paths.REPO_ROOT / "loadtests"
SITE_LOCUSTFILE = LOADTESTS / "site_locustfile.py"
ATTACK_SCRIPT = LOADTESTS / "attack.py"
HOST_HEADER_ENV = "KUBEDEFIS_HOST_HEADER"
TIMEOUT_ENV = "KUBEDEFIS_LOAD_TIMEOUT"
API_TOKEN_ENV = "KUBEDEFIS_API_TOKEN"  # loadtests/site_locustfile.py authenticates its writes with it
STOP_MARGIN = 30.0  # seconds after --run-time before the Locust process is killed
PERCENTILES = ("50%", "95%", "99%", "100%")


@dataclass(frozen=True)
class Scenario:
    """A locustfile, the user classes to run from it, and where they send requests."""

    locustfile: Path
    user_classes: tuple[str, ...]
    base_url: str  # scheme://address:port of the Ingress controller (or the site)
    host_header: str | None = None  # the Ingress host, sent as Host
    request_timeout: float = 10.0  # a request slower than this is a failure
    api_token: str | None = None  # bearer token of the writing users (loadtests: KUBEDEFIS_API_TOKEN)
    env: tuple[tuple[str, str], ...] = ()  # more environment for the locustfile (the site contract)

    @classmethod
    def site(
        cls,
        endpoint: Any,
        *user_classes: str,
        request_timeout: float = 10.0,
        scheme: str = "http",
        site: Site | None = None,
    ) -> Scenario:
        """The site's locustfile against an IngressEndpoint (address, port, host), over HTTP or HTTPS.

        Over HTTPS the certificate is not checked (Locust's FastHttpUser default): the local
        Ingress serves a self-signed one. `site`: the target's site contract (`Target.site`), handed
        to the locustfile in its environment; None: ours.
        """
        port = endpoint.http_port if scheme == "http" else endpoint.https_port
        return cls(
            SITE_LOCUSTFILE,
            tuple(user_classes),
            f"{scheme}://{endpoint.address}:{port}",
            endpoint.host if port in (80, 443) else f"{endpoint.host}:{port}",
            request_timeout,
            endpoint.token,
            tuple(sorted((site or Site()).environment().items())),
        )


@dataclass(frozen=True)
class RequestStats:
    """One line of Locust's statistics: a request name (or the aggregate)."""

    method: str
    name: str
    requests: int
    failures: int
    percentiles_ms: dict[str, float]  # "50%" -> milliseconds
    rps: float

    @property
    def p95(self) -> float:
        return self.percentiles_ms.get("95%", 0.0)

    @property
    def failure_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    def line(self) -> str:
        pct = " ".join(f"p{k.rstrip('%')}={v:.0f}ms" for k, v in self.percentiles_ms.items() if k in PERCENTILES)
        return f"{self.method} {self.name}: {self.requests} requests, {self.failures} failed, {pct}"


@dataclass(frozen=True)
class Failure:
    method: str
    name: str
    error: str
    occurrences: int


@dataclass
class LoadResult:
    total: RequestStats
    requests: list[RequestStats]
    failures: list[Failure]
    seconds: float
    log_tail: str = ""

    def named(self, name: str, method: str | None = None) -> RequestStats | None:
        return next((r for r in self.requests if r.name == name and (method is None or r.method == method)), None)

    def report(self) -> str:
        lines = [f"load: {self.seconds:.0f}s, {self.total.line()}"]
        lines += [f"  {r.line()}" for r in self.requests]
        lines += [f"  failure x{f.occurrences}: {f.method} {f.name}: {f.error[:300]}" for f in self.failures]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 1),
            "requests": self.total.requests,
            "failures": self.total.failures,
            "p50_ms": self.total.percentiles_ms.get("50%"),
            "p95_ms": self.total.p95,
            "p99_ms": self.total.percentiles_ms.get("99%"),
            "max_ms": self.total.percentiles_ms.get("100%"),
            "errors": {f"{f.method} {f.name}: {f.error[:120]}": f.occurrences for f in self.failures},
        }


def _number(value: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def read_csv_results(prefix: Path, seconds: float, log_tail: str = "") -> LoadResult:
    """Locust's <prefix>_stats.csv and <prefix>_failures.csv as a LoadResult."""
    stats_file = Path(f"{prefix}_stats.csv")
    if not stats_file.exists():
        raise KubedefisError(f"Locust wrote no statistics ({stats_file}); its output ended with:\n{log_tail}")
    rows = list(csv.DictReader(stats_file.open()))
    parsed = []
    for row in rows:
        parsed.append(
            RequestStats(
                method=row.get("Type", ""),
                name=row.get("Name", ""),
                requests=int(_number(row.get("Request Count", "0"))),
                failures=int(_number(row.get("Failure Count", "0"))),
                percentiles_ms={k: _number(row.get(k, "0")) for k in ("50%", "90%", "95%", "99%", "100%")},
                rps=_number(row.get("Requests/s", "0")),
            )
        )
    total = next((r for r in parsed if r.name == "Aggregated"), None)
    if total is None:
        total = RequestStats("", "Aggregated", 0, 0, {}, 0.0)
    failures_file = Path(f"{prefix}_failures.csv")
    failures = [
        Failure(r.get("Method", ""), r.get("Name", ""), r.get("Error", ""), int(_number(r.get("Occurrences", "0"))))
        for r in (csv.DictReader(failures_file.open()) if failures_file.exists() else [])
    ]
    return LoadResult(total, [r for r in parsed if r.name != "Aggregated"], failures, seconds, log_tail)


@dataclass
class LoadRun:
    """A running Locust process; `stop()` ends it early and reads its results into `result`."""

    scenario: Scenario
    users: int
    spawn_rate: float
    duration: float
    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    result: LoadResult | None = None

    @property
    def prefix(self) -> Path:
        return self.workdir / "locust"

    @property
    def log(self) -> Path:
        return self.workdir / "locust.log"

    def start(self) -> LoadRun:
        command = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(self.scenario.locustfile),
            "--headless",
            "--users",
            str(self.users),
            "--spawn-rate",
            str(self.spawn_rate),
            "--run-time",
            f"{int(self.duration)}s",
            "--host",
            self.scenario.base_url,
            "--csv",
            str(self.prefix),
            "--only-summary",
            "--stop-timeout",
            "10",
            "--exit-code-on-error",
            "0",
            *self.scenario.user_classes,
        ]
        env = {**os.environ, TIMEOUT_ENV: str(self.scenario.request_timeout), **dict(self.scenario.env)}
        env.update(self.extra_env)
        if self.scenario.api_token:
            env[API_TOKEN_ENV] = self.scenario.api_token
        if self.scenario.host_header:
            env[HOST_HEADER_ENV] = self.scenario.host_header
        self.started = time.monotonic()
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=LOADTESTS, start_new_session=True
            )
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def wait_users(self, timeout: float = 60.0) -> None:
        """Wait until every user has started (Locust logs "All users spawned"), failing if Locust died."""

        def spawned() -> Check[None]:
            text = self.log.read_text(errors="replace") if self.log.exists() else ""
            if not self.running() and "All users spawned" not in text:
                raise KubedefisError(f"Locust exited early:\n{text[-3000:]}")
            return Check("All users spawned" in text, state=f"Locust running for {self.elapsed():.0f}s")

        wait_for("Locust to spawn its users", spawned, timeout=timeout, interval=0.5)

    def snapshot(self) -> LoadResult | None:
        """The statistics so far (Locust rewrites its CSV files every second), or None before the first."""
        if not Path(f"{self.prefix}_stats.csv").exists():
            return None
        try:
            return read_csv_results(self.prefix, self.elapsed())
        except (KubedefisError, OSError, ValueError):
            return None

    def wait_requests(self, count: int, timeout: float) -> LoadResult:
        """Wait until the users have sent `count` requests (steady load before a change)."""

        def enough() -> Check[LoadResult]:
            if not self.running():
                raise KubedefisError(f"Locust exited early:\n{self.log.read_text(errors='replace')[-3000:]}")
            now = self.snapshot()
            sent = now.total.requests if now else 0
            return Check(sent >= count, now, f"{sent} requests sent after {self.elapsed():.0f}s")

        found = wait_for(f"{count} requests of load", enough, timeout=timeout, interval=1.0)
        assert found is not None
        return found

    def stop(self) -> LoadResult:
        """Stop the users (SIGTERM: Locust stops and writes its CSV files), then read the results."""
        if self.result is not None:
            return self.result
        assert self.process is not None, "not started"
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_MARGIN)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        seconds = self.elapsed()
        tail = self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
        self.result = read_csv_results(self.prefix, seconds, tail)
        return self.result

    def wait_done(self) -> LoadResult:
        """Let the run reach its --run-time (killed STOP_MARGIN seconds later), then read the results."""
        assert self.process is not None, "not started"
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=max(0.0, self.duration - self.elapsed()) + STOP_MARGIN)
        return self.stop()


@contextmanager
def run(
    scenario: Scenario,
    *,
    users: int,
    duration: float,
    spawn_rate: float | None = None,
    extra_env: dict[str, str] | None = None,
    wait_spawned: bool = True,
) -> Iterator[LoadRun]:
    """Start Locust, yield the run, stop it when the block ends (results in `run.result`)."""
    with tempfile.TemporaryDirectory(prefix="kubedefis-load-") as tmp:
        runner = LoadRun(scenario, users, spawn_rate or max(1.0, users / 2), duration, Path(tmp), extra_env or {})
        runner.start()
        try:
            if wait_spawned:
                runner.wait_users(timeout=60 + users)
            yield runner
        finally:
            runner.stop()


# --- an attacker in a pod -------------------------------------------------------------------------


@dataclass(frozen=True)
class InClusterAttack:
    """loadtests/attack.py run by a pod (the site image's Python, standard library only)."""

    namespace: str
    name: str
    image: str
    args: tuple[str, ...]
    deadline_seconds: int

    def manifests(self) -> list[dict[str, Any]]:
        labels = {"app.kubernetes.io/name": "kubedefis-attack", "app.kubernetes.io/component": "attacker"}
        config_map = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": self.name, "labels": labels},
            "data": {"attack.py": ATTACK_SCRIPT.read_text()},
        }
        restricted = {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": self.name, "labels": labels},
            "spec": {
                "restartPolicy": "Never",
                "activeDeadlineSeconds": self.deadline_seconds,
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 10001,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "attack",
                        "image": self.image,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["python", "/attack/attack.py", *self.args],
                        "resources": {
                            "requests": {"cpu": "1m", "memory": "16Mi"},
                            "limits": {"cpu": "500m", "memory": "256Mi"},
                        },
                        "securityContext": restricted,
                        "volumeMounts": [{"name": "script", "mountPath": "/attack"}],
                    }
                ],
                "volumes": [{"name": "script", "configMap": {"name": self.name}}],
            },
        }
        return [config_map, pod]


def parse_attack_report(log: str) -> dict[str, Any]:
    """The JSON summary attack.py prints last (a line starting with `ATTACK-REPORT `)."""
    for line in reversed(log.splitlines()):
        if line.startswith("ATTACK-REPORT "):
            return dict(json.loads(line.removeprefix("ATTACK-REPORT ")))
    raise KubedefisError(f"the attack pod printed no report; its log ends with:\n{log[-2000:]}")


@contextmanager
def in_cluster(cluster: Any, attack: InClusterAttack, timeout: float) -> Iterator[InClusterAttack]:
    """Apply the attack pod, wait until it runs, yield; afterwards the pod and its ConfigMap go."""
    documents = yaml.safe_dump_all(attack.manifests())
    cluster.kubectl_run("apply", "-n", attack.namespace, "-f", "-", input=documents)

    def started() -> Check[None]:
        pod = cluster.kube.core.read_namespaced_pod(attack.name, attack.namespace)
        return Check(pod.status.phase in ("Running", "Succeeded", "Failed"), state=f"attack pod {pod.status.phase}")

    try:
        wait_for(f"attack pod {attack.namespace}/{attack.name} to start", started, timeout=timeout)
        yield attack
    finally:
        cluster.kubectl_run(
            "delete",
            "-n",
            attack.namespace,
            "pod,configmap",
            attack.name,
            "--ignore-not-found",
            "--wait=false",
            check=False,
        )


PROGRESS_LINE = re.compile(r"(\d+)s (\{.*\})")  # attack.py's progress, every 10 s: `20s {"lists": {...}}`


def parse_attack_progress(log: str) -> dict[str, Any] | None:
    """The attacker's last progress line as a report (`stopped_early`), or None before the first one."""
    for line in reversed(log.splitlines()):
        if match := PROGRESS_LINE.fullmatch(line.strip()):
            counted = json.loads(match.group(2))
            attacks = {name: {"outcomes": outcomes} for name, outcomes in counted.items()}
            return {"seconds": int(match.group(1)), "attacks": attacks, "stopped_early": True}
    return None


def attack_report(
    cluster: Any, attack: InClusterAttack, timeout: float, stop_when: Callable[[], bool] | None = None
) -> dict[str, Any]:
    """Wait for the attack pod to finish and return its report.

    With `stop_when`, the wait also ends once it says so and the attacker has printed its progress:
    the report is then that progress (what it counted so far, `stopped_early`); `in_cluster` deletes
    the pod on the way out.
    """
    early: dict[str, Any] = {}

    def finished() -> Check[str]:
        pod = cluster.kube.core.read_namespaced_pod(attack.name, attack.namespace)
        if pod.status.phase in ("Succeeded", "Failed"):
            return Check(True, pod.status.phase)
        if stop_when is not None and stop_when():
            progress = parse_attack_progress(cluster.kube.core.read_namespaced_pod_log(attack.name, attack.namespace))
            if progress is not None:
                early.update(progress)
                return Check(True, "stopped")
        return Check(False, None, f"attack pod {pod.status.phase}")

    wait_for(f"attack pod {attack.namespace}/{attack.name} to finish", finished, timeout=timeout, interval=2.0)
    if early:
        return early
    log = cluster.kube.core.read_namespaced_pod_log(attack.name, attack.namespace)
    return parse_attack_report(log)


# --- défis 17-18: legitimate users while an attacker pod attacks ------------------------------------


@dataclass(frozen=True)
class PodHealth:
    name: str
    restarts: int
    last_reason: str | None  # OOMKilled, Error, Completed... of the last terminated container


def pod_health(cluster: Any, namespace: str, selectors: Sequence[str]) -> dict[str, PodHealth]:
    """Restarts and last end of every container of the pods the selectors select (each pod once)."""
    pods = {
        pod.metadata.name: pod
        for selector in selectors
        for pod in cluster.kube.core.list_namespaced_pod(namespace, label_selector=selector).items
    }
    health = {}
    for pod in pods.values():
        for status in pod.status.container_statuses or []:
            terminated = status.last_state.terminated if status.last_state else None
            health[f"{pod.metadata.name}/{status.name}"] = PodHealth(
                pod.metadata.name, status.restart_count, terminated.reason if terminated else None
            )
    return health


@dataclass
class AttackOutcome:
    """What the legitimate users saw while the attack ran, what the attacker got, what the pods suffered."""

    legit: LoadResult
    attack: dict[str, Any]
    restarts: dict[str, int]  # container -> restarts during the attack
    oom_killed: list[str]  # containers whose last end was OOMKilled during the attack
    replaced: list[str] = field(default_factory=list)  # pods there before the attack and gone after it

    def unproven(self, *, answers: bool = True) -> list[str]:
        """Why the attacker's report does not show it attacked the site (empty: it does).

        attack.py counts each request it ended (an HTTP status, or the error it ended with: refused,
        timeout, ...). Nothing counted, and the site was never attacked: its survival (D18.3) or its
        fall (D17.3) is not the attack's doing. With `answers`, errors only (an Ingress host resolving
        to the attacker's own loopback, a NetworkPolicy dropping it) are no attack either; a site that
        falls may leave its attacker with errors only, so D17.3 does not ask it.
        """
        attacks = self.attack.get("attacks") or {}
        outcomes = {name: dict(a.get("outcomes") or {}) for name, a in attacks.items()}
        sent = sum(n for counted in outcomes.values() for n in counted.values())
        answered = sum(n for counted in outcomes.values() for o, n in counted.items() if str(o).isdigit())
        if not attacks:
            return ["the attacker's report lists no attack"]
        if not sent:
            return [f"the attacker ended no request: {outcomes}"]
        if answers and not answered:
            return [f"no request of the attacker got an HTTP answer (it never reached the site): {outcomes}"]
        return []

    def failure_modes(self) -> list[str]:
        """How the site failed its legitimate users, in words (empty: it did not)."""
        modes = []
        if self.oom_killed:
            modes.append(f"OOM-killed: {', '.join(sorted(self.oom_killed))}")
        other = {c: n for c, n in self.restarts.items() if n and c not in self.oom_killed}
        if other:
            modes.append(f"restarted: {other}")
        if self.replaced:
            modes.append(f"pods replaced: {', '.join(sorted(self.replaced))}")
        kinds: dict[str, int] = {}
        for failure in self.legit.failures:
            kind = "timeout" if "timeout" in failure.error.lower() or "timed out" in failure.error.lower() else None
            if kind is None:
                kind = next(
                    (f"HTTP {c}" for c in ("500", "502", "503", "504") if c in failure.error), "connection error"
                )
            kinds[kind] = kinds.get(kind, 0) + failure.occurrences
        modes += [f"{kind}: {count} legitimate requests" for kind, count in sorted(kinds.items())]
        if self.legit.total.p95 >= 1000:
            modes.append(f"p95 of legitimate requests {self.legit.total.p95:.0f} ms")
        return modes

    def as_dict(self) -> dict[str, Any]:
        return {
            "legit": self.legit.as_dict(),
            "legit_failed_ratio": round(self.legit.total.failure_ratio, 4),
            "attack": self.attack,
            "restarts": self.restarts,
            "oom_killed": self.oom_killed,
            "replaced": self.replaced,
            "failure_modes": self.failure_modes(),
        }


def attack_target(cluster: Any, host: str) -> tuple[str, str]:
    """Where an attacker pod sends its requests (URL, Host header): the Ingress controller.

    On our kind cluster, Traefik's pod (namespace `ingress`) on its HTTP port; elsewhere the
    Ingress host itself, as any client on the Internet would.
    """
    if cluster.local_spec is not None:
        pods = cluster.kube.core.list_namespaced_pod("ingress", label_selector="app.kubernetes.io/name=traefik").items
        running = [p for p in pods if p.status.phase == "Running" and p.status.pod_ip]
        if running:
            return f"http://{running[0].status.pod_ip}:8000", host
    return f"http://{host}", host


def attack_paths(contract: Site) -> tuple[str, ...]:
    """attack.py's arguments naming the site's paths: lists, the public page, the write's path, the flood."""
    return (
        *("--list-path", contract.api_list, "--page-path", contract.public_page),
        *("--write-path", contract.write_path, "--flood-path", contract.api_probe),
    )


def attack_under_load(
    cluster: Any,
    namespace: str,
    site: Any,
    *,
    image: str,
    selectors: Sequence[str],
    attack_args: tuple[str, ...],
    attack_seconds: float,
    users: int = 6,
    start_timeout: float = 120.0,
    site_contract: Site | None = None,
    until_fallen: bool = False,
) -> AttackOutcome:
    """Legitimate users (Browser, ApiClient) through the Ingress while a pod runs loadtests/attack.py.

    The pods watched for restarts and OOM kills are those the selectors select (the target's
    components): a pod of the stack that another label would miss cannot hide a restart. Both aim at
    the paths of `site_contract` (the target's site contract; None: ours). `until_fallen`: the attack
    stops once one of those pods restarted or went (D17.3's proof is then in; the rest of the
    attack would only keep the other lanes waiting), else it lasts its `attack_seconds`.
    """
    contract = site_contract or Site()
    if not selectors:
        raise KubedefisError("attack_under_load: no pod selector to watch the stack's pods with")
    url, host = attack_target(cluster, site.host)
    attack = InClusterAttack(
        namespace=namespace,
        name="attacker",
        image=image,
        args=(
            *("--target", url, "--host-header", host, "--duration", str(int(attack_seconds))),
            *attack_paths(contract),
            *attack_args,
        ),
        deadline_seconds=int(attack_seconds + 120),
    )
    before = pod_health(cluster, namespace, selectors)

    def fallen() -> bool:  # a pod of the stack restarted, OOM-killed or replaced since the attack began
        restarts, _, replaced = suffered(before, pod_health(cluster, namespace, selectors))
        return bool(restarts or replaced)

    scenario = Scenario.site(site, "Browser", "ApiClient", request_timeout=10, site=contract)
    with run(scenario, users=users, duration=attack_seconds + start_timeout + 120) as legit:
        legit.wait_requests(users * 10, timeout=start_timeout)
        with in_cluster(cluster, attack, timeout=start_timeout):
            report = attack_report(cluster, attack, attack_seconds + 120, stop_when=fallen if until_fallen else None)
        legit.stop()
    assert legit.result is not None
    restarts, oom, replaced = suffered(before, pod_health(cluster, namespace, selectors))
    return AttackOutcome(legit.result, report, restarts, oom, replaced)


def suffered(before: dict[str, PodHealth], after: dict[str, PodHealth]) -> tuple[dict[str, int], list[str], list[str]]:
    """What the pods suffered between two readings: restarts by container, the OOM-killed ones, pods gone."""
    restarts = {c: h.restarts - (before[c].restarts if c in before else 0) for c, h in after.items()}
    oom = [c for c, h in after.items() if h.last_reason == "OOMKilled" and restarts.get(c, 0) > 0]
    replaced = sorted({h.name for h in before.values()} - {h.name for h in after.values()})
    return {c: n for c, n in restarts.items() if n}, oom, replaced
