"""Each load user lends a key no other user of the run holds: défi 8's "0 failed" counted a 409 of
two users on one key (the list of keys not lent shifted while others held theirs).

Locust patches the standard library when imported (gevent): the users run in a fresh interpreter.
"""

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import pytest
from locust_child import child, reply_json, run_child, serving

# In the child: argv[3] users start one after the other, each lending its key (and keeping it, as a
# user between its lend and its return); prints their keys and Locust's counts.
CHILD = child(
    "scenario.ApiClient",
    """
keys = []
for _ in range(int(sys.argv[3])):
    user = scenario.ApiClient(env)
    user.auth = {}
    key = user.own_key()
    keys.append(key)
    if key is not None:
        user.write(f"/api/keys/{key}/lend", {}, "/api/keys/{id}/lend", 200)
counts = {f"{method} {name}": [entry.num_requests, entry.num_failures]
          for (name, method), entry in env.stats.entries.items()}
print(json.dumps({"keys": keys, "counts": counts}))
""",
)


class Garage(BaseHTTPRequestHandler):
    """Keys 1..4 (id order); `lent_to` says who holds each: "us" (the load token) or "other"."""

    lent_to: ClassVar[dict[int, str]] = {}

    def reply(self, status: int, body: Any) -> None:
        reply_json(self, status, body)

    def do_GET(self) -> None:
        keys = [{"id": key, "lent": key in self.lent_to} for key in range(1, 5)]
        if "lent=false" in self.path:
            keys = [key for key in keys if not key["lent"]]
        self.reply(200, {"count": len(keys), "results": keys})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        key, action = int(self.path.split("/")[3]), self.path.split("/")[4]
        holder = self.lent_to.get(key)
        if action == "lend" and holder is None:
            self.lent_to[key] = "us"
            self.reply(200, {"id": key, "lent": True})
        elif action == "return" and holder == "us":
            del self.lent_to[key]
            self.reply(200, {"id": key, "lent": False})
        elif action == "return" and holder == "other":
            self.reply(403, {"message": "not yours"})
        else:
            self.reply(409, {"message": f"key {key} is {'already' if holder else 'not'} lent"})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def garage() -> Iterator[str]:
    Garage.lent_to = {}
    with serving(Garage) as url:
        yield url


def start_users(host: str, users: int) -> dict[str, Any]:
    return run_child(CHILD, host, str(users))


def test_users_holding_keys_never_share_one(garage: str) -> None:
    seen = start_users(garage, 4)
    assert seen["keys"] == [1, 2, 3, 4]
    assert seen["counts"]["POST /api/keys/{id}/lend"] == [4, 0]


def test_more_users_than_keys_do_not_lend(garage: str) -> None:
    seen = start_users(garage, 6)
    assert seen["keys"] == [1, 2, 3, 4, None, None]
    assert seen["counts"]["POST /api/keys/{id}/lend"] == [4, 0]


def test_a_key_left_lent_to_the_load_token_is_given_back_first(garage: str) -> None:
    Garage.lent_to = {2: "us"}
    seen = start_users(garage, 3)
    assert seen["keys"] == [1, 2, 3]
    assert seen["counts"]["POST /api/keys/{id}/lend"] == [3, 0]
    assert seen["counts"]["GET setup"] == [3, 0] and seen["counts"]["POST setup"] == [1, 0]


def test_a_key_lent_to_someone_else_is_left_alone(garage: str) -> None:
    Garage.lent_to = {1: "other"}
    seen = start_users(garage, 2)
    assert seen["keys"] == [None, 2]
    assert seen["counts"]["POST /api/keys/{id}/lend"] == [1, 0]
    assert Garage.lent_to == {1: "other", 2: "us"}


# In the child: one ApiClient user (key 1) runs argv[3] lend-and-return iterations; prints Locust's counts.
ITERATIONS = child(
    "scenario.ApiClient",
    """
user = scenario.ApiClient(env)
user.auth = {}
user.key_id = 1
for _ in range(int(sys.argv[3])):
    user.lend_and_return()
counts = {f"{method} {name}": [entry.num_requests, entry.num_failures]
          for (name, method), entry in env.stats.entries.items()}
print(json.dumps({"counts": counts}))
""",
)


class LosingGarage(Garage):
    """Garage whose first `fails` write (lend or return) answers 502, done or not (`done`): a pod stopping."""

    fails: ClassVar[str] = "lend"
    done: ClassVar[bool] = True
    lost: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        if self.path.startswith("/api/keys/"):
            key = int(self.path.split("/")[3])
            self.reply(200, {"id": key, "lent": key in self.lent_to})
            return
        super().do_GET()

    def do_POST(self) -> None:
        if self.path.endswith("/" + self.fails) and not self.lost:
            self.lost.append(self.path)
            if self.done:
                super().do_POST()  # done, and its answer (written to a buffer below) lost
                return
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.reply(502, {"message": "Bad Gateway"})
            return
        super().do_POST()

    def reply(self, status: int, body: Any) -> None:
        if self.lost and len(self.lost) == 1 and self.done and status == 200 and self.path == self.lost[0]:
            self.lost.append("answered 502")
            status, body = 502, {"message": "Bad Gateway"}
        super().reply(status, body)


@pytest.mark.parametrize(
    ("fails", "done", "setup_posts"),
    [
        ("lend", True, 1),  # lent, answer lost: given back before the next lend
        ("lend", False, 0),  # not lent: no return of a key not lent (a 409)
        ("return", False, 1),  # still lent: given back before the next lend (not a 409)
        ("return", True, 0),  # given back, answer lost: nothing to settle
    ],
)
def test_a_write_whose_answer_was_lost_counts_once_and_no_409_follows(fails: str, done: bool, setup_posts: int) -> None:
    """Session 12's D18.3 409 "key already lent" under a pod restart: a write failed, the next one was refused."""
    LosingGarage.lent_to, LosingGarage.lost, LosingGarage.fails, LosingGarage.done = {}, [], fails, done
    with serving(LosingGarage) as url:
        seen = run_child(ITERATIONS, url, "3")["counts"]
    lends, returns = seen["POST /api/keys/{id}/lend"], seen["POST /api/keys/{id}/return"]
    assert lends[1] + returns[1] == 1, f"expected the one lost answer as the one failure, found {seen}"
    assert lends[0] == 3 and returns[0] == (2 if fails == "lend" else 3)  # no return after a failed lend
    assert seen["GET setup"] == [1, 0]  # the key read once, after the failure
    assert seen.get("POST setup", [0, 0]) == [setup_posts, 0]
    assert LosingGarage.lent_to == {}
