"""The load scenario (loadtests/site_locustfile.py) run in a fresh interpreter against a local HTTP server.

Locust monkey-patches the standard library when imported (gevent), too late inside pytest's process:
a test writes the child's body (`child`), runs it (`run_child`) and reads back the JSON it printed
last; the server it talks to is a BaseHTTPRequestHandler of the test's, served on a free port
(`serving`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

LOCUSTFILE = Path(__file__).resolve().parents[2] / "loadtests" / "site_locustfile.py"

# The child's opening: the scenario loaded from argv[1] as `scenario`, the user classes sent to the
# server at argv[2], and `env`, a Locust Environment counting their requests in env.stats.
HEADER = """
import importlib.util, json, sys
from locust.env import Environment
spec = importlib.util.spec_from_file_location("site_locustfile", sys.argv[1])
scenario = importlib.util.module_from_spec(spec)
spec.loader.exec_module(scenario)
for cls in [{users}]:
    cls.host = sys.argv[2]
env = Environment(user_classes=[{users}])
env.create_local_runner()  # wires the request events to env.stats
"""


def child(users: str, body: str) -> str:
    """The child's script: HEADER for these user classes (`"scenario.Browser"`), then `body` (argv[3:] its own)."""
    return HEADER.format(users=users) + body.lstrip("\n")


def run_child(script: str, host: str, *args: str) -> dict[str, Any]:
    """Run `script` (`child`'s) on the scenario against `host`; the JSON its last line printed."""
    done = subprocess.run(
        [sys.executable, "-c", script, str(LOCUSTFILE), host, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """`handler` served on a free port of 127.0.0.1 (a thread); its URL. Shut down at the end."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def reply_json(handler: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    """Answer `status` with `body` as JSON (after `headers`)."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
