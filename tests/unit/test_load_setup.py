"""The load scenario's requests: a throttled one (429) is asked again, reported apart, never a failure.

Locust monkey-patches the standard library when imported (gevent), too late inside pytest's process:
each case runs the scenario in a fresh interpreter and reads back what Locust counted.
"""

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from locust_child import child, reply_json, run_child, serving

# Runs in the child: one request of a Browser user against the server (a setup read, a measured read
# or a write, by argv[3]), then Locust's counts as JSON.
CHILD = child(
    "scenario.Browser",
    """
user = scenario.Browser(env)
user.auth = {}
try:
    if sys.argv[3] == "setup":
        answer = user.setup_get("/api/cars?page_size=100")
    elif sys.argv[3] == "get":
        answer = user.get("/api/cars/7", "/api/cars/{id}")
    else:
        answer = user.write("/api/keys/7/lend", {}, "/api/keys/{id}/lend", 200)
except Exception as error:
    answer = repr(error)
counts = {name: [entry.num_requests, entry.num_failures] for (name, _), entry in env.stats.entries.items()}
print(json.dumps({"answer": answer, "counts": counts, "retries": scenario.THROTTLE_RETRIES,
                  "throttled": scenario.THROTTLED}))
""",
)


class Throttling(BaseHTTPRequestHandler):
    """429 (Retry-After: 0) for the first `throttle` requests, then `final` with a JSON body."""

    throttle = 0
    final = 200
    seen = 0

    def do_GET(self) -> None:
        type(self).seen += 1
        status = 429 if type(self).seen <= type(self).throttle else type(self).final
        reply_json(self, status, {"count": 1, "results": [{"id": 7}]}, {"Retry-After": "0"})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.do_GET()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Throttling.seen = 0
    with serving(Throttling) as url:
        yield url


def run_setup(host: str, throttle: int, final: int = 200, what: str = "setup") -> dict[str, Any]:
    Throttling.throttle, Throttling.final = throttle, final
    return run_child(CHILD, host, what)


def test_throttled_setup_is_asked_again_and_reported_apart(server: str) -> None:
    seen = run_setup(server, throttle=2)
    assert seen["answer"] == {"count": 1, "results": [{"id": 7}]}
    assert seen["counts"] == {"setup" + seen["throttled"]: [2, 0], "setup": [1, 0]}


def test_a_stack_that_keeps_throttling_fails_the_setup(server: str) -> None:
    seen = run_setup(server, throttle=100)
    assert seen["counts"] == {"setup" + seen["throttled"]: [seen["retries"], 0], "setup": [1, 1]}


def test_other_errors_are_not_asked_again(server: str) -> None:
    seen = run_setup(server, throttle=0, final=503)
    assert seen["counts"] == {"setup": [1, 1]}
    assert Throttling.seen == 1


@pytest.mark.parametrize("what, name", [("get", "/api/cars/{id}"), ("post", "/api/keys/{id}/lend")])
def test_a_measured_request_throttled_is_asked_again(server: str, what: str, name: str) -> None:
    seen = run_setup(server, throttle=3, what=what)
    assert seen["counts"] == {name + seen["throttled"]: [3, 0], name: [1, 0]}


@pytest.mark.parametrize("what, name", [("get", "/api/cars/{id}"), ("post", "/api/keys/{id}/lend")])
def test_a_measured_request_throttled_to_the_end_fails(server: str, what: str, name: str) -> None:
    seen = run_setup(server, throttle=100, what=what)
    assert seen["counts"] == {name + seen["throttled"]: [seen["retries"], 0], name: [1, 1]}


def test_a_measured_server_error_is_a_failure_at_once(server: str) -> None:
    seen = run_setup(server, throttle=0, final=502, what="get")
    assert seen["counts"] == {"/api/cars/{id}": [1, 1]}
    assert Throttling.seen == 1
