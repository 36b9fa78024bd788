"""Locust scenario for the kubedefis Django site.

By hand:   locust -f loadtests/site_locustfile.py --host http://127.0.0.1:8000
Headless:  locust -f loadtests/site_locustfile.py --host http://127.0.0.1:8000 --headless -u 10 -r 5 -t 1m

`GarageVisitor` mixes browsing and key loans. The single-endpoint users below are abstract (Locust
ignores them by hand); loadtests/bench_site.py runs each of them alone to measure it.

The conformance tests (kubedefis/harness/load.py) run `Browser` (a person reading the public pages),
`ApiClient` (a program reading and writing through the API: it creates cars, lends and returns
keys) and `CpuHog` (défi 9: uncached API reads back to back) through the Ingress:

    KUBEDEFIS_HOST_HEADER=django.kubedefis.localhost:8080 \
        locust -f loadtests/site_locustfile.py --host http://127.0.0.1:8080 Browser ApiClient

KUBEDEFIS_HOST_HEADER is the Host sent with every request (`*.localhost` names do not resolve here:
requests go to the Ingress controller's address); KUBEDEFIS_LOAD_TIMEOUT (seconds, default 60) makes
a slower answer a failure.

KUBEDEFIS_API_TOKEN is the bearer token every write sends (`Authorization: Bearer ...`): the API
refuses anonymous writes (401). Reads stay anonymous. The chart keeps one in its Secret
`<fullname>-api-credentials` (key KUBEDEFIS_API_TOKEN, user `kubedefis-loadtest`, staff):

    export KUBEDEFIS_API_TOKEN=$(kubectl -n NS get secret kubedefis-api-credentials \
        -o jsonpath='{.data.KUBEDEFIS_API_TOKEN}' | base64 -d)

or `python manage.py api_token create --user U` for a local site. Creating cars needs a staff
user; lending lends to the token's user (`{}`) and gives back its own loans. Without the variable,
writes go out anonymously and count as failures (401).

Another group's site (its own Django project): the harness sets KUBEDEFIS_SITE=contract and the paths
of the target's site contract (kubedefis/harness/target.py): KUBEDEFIS_API_LIST (an API list),
KUBEDEFIS_PUBLIC_PAGE (a public page), KUBEDEFIS_API_PROBE (an inexpensive read) and, where the target
names one, KUBEDEFIS_API_WRITE ("POST /path") with KUBEDEFIS_API_WRITE_BODY (JSON, {unique} replaced by
a fresh word). The same users then read those paths and `/`, and ApiClient writes with that write
instead of creating cars (none without it); nothing of our data model (cars, garages, keys) is asked.
Unset, the paths are ours and KUBEDEFIS_SITE is `garage`.
"""

import itertools
import os
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import gevent
from locust import FastHttpUser, between, constant, task

API_PAGE_SIZE = 50
# The site contract (see above): ours unless the harness says.
OUR_SITE = (os.environ.get("KUBEDEFIS_SITE") or "garage") == "garage"
API_LIST = os.environ.get("KUBEDEFIS_API_LIST") or "/api/cars"
PUBLIC_PAGE = os.environ.get("KUBEDEFIS_PUBLIC_PAGE") or "/voitures/"
API_PROBE = os.environ.get("KUBEDEFIS_API_PROBE") or "/api/stats"
API_WRITE = os.environ.get("KUBEDEFIS_API_WRITE") or ""  # "POST /path": another site's write, if any
API_WRITE_BODY = os.environ.get("KUBEDEFIS_API_WRITE_BODY") or "{}"
# X-Kubedefis-Cache values seen, per request name: the benchmark reports the hit ratio.
CACHE_COUNTS: Counter[tuple[str, str]] = Counter()
_next_key = itertools.count()
_lock = threading.Lock()


def record_cache(name: str, response: Any) -> None:
    CACHE_COUNTS[(name, response.headers.get("X-Kubedefis-Cache") or "-")] += 1


HOST_HEADER = os.environ.get("KUBEDEFIS_HOST_HEADER")
REQUEST_TIMEOUT = float(os.environ.get("KUBEDEFIS_LOAD_TIMEOUT") or 60)
API_TOKEN_ENV = "KUBEDEFIS_API_TOKEN"
# A request the stack throttles (429) is asked again after its Retry-After, at most this many times,
# as a well-behaved client does: every simulated user shares one address, so together they meet a
# per-client limit (défi 18: requests per second, requests in flight) that many real visitors would
# not. A throttled attempt is reported apart under its name + THROTTLED, never as a failure; what
# the checks count as lost is what still fails (5xx, timeouts, refused connections, a last 429).
THROTTLE_RETRIES = 6
THROTTLE_MAX_WAIT = 5.0
THROTTLED = " (429, asked again)"


def with_query(path: str, query: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}{query}"


def write_headers() -> dict[str, str]:
    """The credentials of writes (read when a user starts: the benchmark sets it after import)."""
    token = os.environ.get(API_TOKEN_ENV)
    return {"Authorization": f"Bearer {token}"} if token else {}


def retry_after(header: str | None) -> float:
    """Seconds to wait before asking again: the Retry-After in seconds, else 1, at most THROTTLE_MAX_WAIT."""
    try:
        seconds = float(header or 1)
    except ValueError:  # an HTTP date, or garbage: one second
        seconds = 1.0
    return min(max(seconds, 0.1), THROTTLE_MAX_WAIT) + random.uniform(0, 0.5)  # jitter: users not in step


class SiteUser(FastHttpUser):
    abstract = True
    default_headers = {"Host": HOST_HEADER} if HOST_HEADER else None
    network_timeout = REQUEST_TIMEOUT
    connection_timeout = REQUEST_TIMEOUT
    car_count = 1
    car_ids: list[int]
    key_id: int | None
    key_in_doubt = False  # a lend or return of this user failed: its key's state is not known
    garage_id: int | None = None
    auth: dict[str, str]

    def on_start(self) -> None:
        self.auth = write_headers()
        self.car_ids, self.key_id = [], None
        if not OUR_SITE:  # another site: its contract's paths only, nothing to set up
            return
        cars = self.setup_get(with_query(API_LIST, "page_size=100"))
        self.car_count = max(1, cars["count"])
        self.car_ids = [car["id"] for car in cars["results"]] or [1]
        self.key_id = self.own_key()

    def own_key(self) -> int | None:
        """The key this user lends and returns, lent to no other user of this run (a 409 would be ours).

        The n-th user takes the n-th key of the whole list (in id order, lent or not): a list of the
        keys not lent would shift while other users hold theirs, and two users would get the same
        one. A key still lent when the user starts was left by a run stopped between a lend and
        its return, to the same token: it is given back first, outside the measured requests. With
        more users than keys, the extra users do not lend.
        """
        keys = self.setup_get("/api/keys?page_size=100")["results"]
        with _lock:
            index = next(_next_key)
        if index >= len(keys):
            return None
        key = keys[index]
        if key.get("lent"):
            with self.client.post(
                f"/api/keys/{key['id']}/return", name="setup", catch_response=True, headers=self.auth
            ) as response:
                if response.status_code != 200:  # lent to someone else: this user does not lend
                    response.success()
                    return None
        return int(key["id"])

    def ask(self, method: str, path: str, name: str, judge: Callable[[Any], None] | None = None, **kwargs: Any) -> Any:
        """The response to one request; a 429 is asked again after its Retry-After (see THROTTLED).

        `judge` marks the final response (response.failure(...)); without it Locust judges the status.
        """
        for attempt in range(THROTTLE_RETRIES + 1):
            with self.client.request(method, path, name=name, catch_response=True, **kwargs) as response:
                throttled = response.status_code == 429 and attempt < THROTTLE_RETRIES
                if throttled:
                    response.request_meta["name"] = name + THROTTLED
                    response.success()
                elif judge is not None:
                    judge(response)
            if not throttled:
                return response
            gevent.sleep(retry_after(response.headers.get("Retry-After")))
        raise AssertionError("unreachable: the last attempt returns")

    def setup_get(self, path: str) -> Any:
        """The JSON of a read done before the measured part (not JSON: the user stops, its failure counted)."""
        return self.ask("GET", path, "setup").json()

    def get(self, path: str, name: str) -> None:
        def ok(response: Any) -> None:
            record_cache(name, response)
            if response.status_code != 200:
                # The body's start says who answered: the proxy ("no available server") or the site.
                response.failure(f"status {response.status_code}: {' '.join(response.text[:120].split())}")

        self.ask("GET", path, name, ok)

    def api_car_list(self) -> None:
        if not OUR_SITE:
            self.get(API_LIST, API_LIST)
            return
        pages = max(1, -(-self.car_count // API_PAGE_SIZE))
        page = f"page={random.randint(1, pages)}&page_size={API_PAGE_SIZE}"
        self.get(with_query(API_LIST, page), with_query(API_LIST, f"page_size={API_PAGE_SIZE}"))

    def api_car_detail(self) -> None:
        if not OUR_SITE:
            self.get(API_PROBE, API_PROBE)
            return
        self.get(f"/api/cars/{random.choice(self.car_ids)}", "/api/cars/{id}")

    def home_page(self) -> None:
        self.get("/", "/ (home)")

    def car_list_page(self) -> None:
        if not OUR_SITE:
            self.get(PUBLIC_PAGE, PUBLIC_PAGE)
            return
        self.get(with_query(PUBLIC_PAGE, f"page={random.randint(1, 20)}"), PUBLIC_PAGE)

    def key_page(self) -> None:
        if not OUR_SITE:
            self.car_list_page()
        elif self.key_id is not None:
            self.get(f"/cles/{self.key_id}/", "/cles/{id}/")

    def write(
        self, path: str, body: Any, name: str, expected: int, check: Callable[[Any], str | None] | None = None
    ) -> bool:
        """A POST with the token; another status than `expected`, or what `check` says, is a failure (False)."""
        failed: list[str] = []

        def judge(response: Any) -> None:
            if response.status_code != expected:
                hint = f" (no {API_TOKEN_ENV}?)" if response.status_code == 401 and not self.auth else ""
                failed.append(f"status {response.status_code}{hint}: {response.text[:100]}")
            elif check is not None and (problem := check(response)):
                failed.append(problem)
            if failed:
                response.failure(failed[0])

        self.ask("POST", path, name, judge, json=body, headers=self.auth)
        return not failed

    def find_garage(self) -> None:
        if not OUR_SITE:
            return
        garages = self.setup_get("/api/garages?page_size=1")["results"]
        self.garage_id = garages[0]["id"] if garages else None

    def contract_write(self) -> None:
        """Another site: the write its target names (any 2xx is a success), counted under its name."""
        if not API_WRITE:
            self.get(API_LIST, API_LIST)
            return
        method, path = API_WRITE.split()
        body = API_WRITE_BODY.replace("{unique}", uuid.uuid4().hex[:10])

        def judge(response: Any) -> None:
            if not 200 <= response.status_code < 300:
                response.failure(f"status {response.status_code}: {response.text[:100]}")

        headers = {**self.auth, "Content-Type": "application/json"}
        self.ask(method, path, API_WRITE, judge, data=body.encode(), headers=headers)

    def new_car(self) -> None:
        """Creates a car (staff only), counted under `POST /api/cars`; on another site, its write."""
        if not OUR_SITE:
            self.contract_write()
            return
        if self.garage_id is None:
            return
        plate = f"LD-{uuid.uuid4().hex[:8].upper()}"
        car = {"make": "Renault", "model": "Zoé", "plate": plate, "year": 2024, "garage_id": self.garage_id}

        def created(response: Any) -> str | None:
            if response.json().get("make") != "Renault":
                return f"the car came back as {response.text[:200]}"
            self.car_ids.append(response.json()["id"])
            return None

        self.write("/api/cars", car, "POST /api/cars", 201, created)

    def lend_and_return(self) -> None:
        if not OUR_SITE:
            self.api_car_list()
            return
        if self.key_id is None:
            return
        if self.key_in_doubt and not self.settle_key():
            return
        # `{}`: to the token's own user, who may then give it back.
        for action, body in (("lend", {}), ("return", None)):
            if not self.write(f"/api/keys/{self.key_id}/{action}", body, f"/api/keys/{{id}}/{action}", 200):
                # That failure is counted. Whether the site did it is unknown (an answer lost while a
                # pod stopped): the key's state is read before this user writes it again, or its next
                # lend or return would count a 409 that is this user's doing, not the site's.
                self.key_in_doubt = True
                return

    def settle_key(self) -> bool:
        """After a failed lend or return: the key read again and, if still lent, given back; True when settled.

        Named "setup" (not a measured scenario), though any failure of these requests still counts.
        """
        read = self.ask("GET", f"/api/keys/{self.key_id}", "setup")
        if read.status_code != 200:
            return False
        if read.json().get("lent"):
            with self.client.post(
                f"/api/keys/{self.key_id}/return", name="setup", catch_response=True, headers=self.auth
            ) as response:
                if response.status_code == 409:  # given back between the read and this return
                    response.success()
                elif response.status_code != 200:
                    return False
        self.key_in_doubt = False
        return True


class GarageVisitor(SiteUser):
    """A person (or script) using the site: mostly reading, sometimes lending a key."""

    wait_time = between(0.5, 2.0)

    @task(4)
    def browse_api(self) -> None:
        self.api_car_list()

    @task(3)
    def open_car(self) -> None:
        self.api_car_detail()

    @task(3)
    def home(self) -> None:
        self.home_page()

    @task(2)
    def browse_pages(self) -> None:
        self.car_list_page()

    @task(1)
    def open_key(self) -> None:
        self.key_page()

    @task(1)
    def lend(self) -> None:
        self.lend_and_return()


class Browser(SiteUser):
    """A person reading the public pages (défis 8, 18: the legitimate traffic)."""

    wait_time = between(0.5, 1.5)

    @task(3)
    def home(self) -> None:
        self.home_page()

    @task(3)
    def cars(self) -> None:
        self.car_list_page()

    @task(1)
    def garages(self) -> None:
        if not OUR_SITE:
            self.home_page()
            return
        self.get("/garages/", "/garages/")

    @task(2)
    def key(self) -> None:
        self.key_page()


class ApiClient(SiteUser):
    """A program using the API: reads, creates cars (with their keys), lends and returns keys.

    Each car it creates is counted under the request name `POST /api/cars`: défi 20 compares
    the number of rows after an upgrade with the rows before plus these.
    """

    wait_time = between(0.3, 1.0)

    def on_start(self) -> None:
        super().on_start()
        self.find_garage()

    @task(4)
    def read_cars(self) -> None:
        self.api_car_list()

    @task(3)
    def read_car(self) -> None:
        self.api_car_detail()

    @task(1)
    def read_keys(self) -> None:
        if not OUR_SITE:
            self.get(API_PROBE, API_PROBE)
            return
        self.get("/api/keys?lent=false&page_size=20", "/api/keys?lent=false")

    @task(2)
    def lend(self) -> None:
        self.lend_and_return()

    @task(1)
    def create_car(self) -> None:
        self.new_car()


class CpuHog(SiteUser):
    """Défi 9: uncached reads back to back (details, odd page sizes), to load the pods' CPU."""

    wait_time = constant(0)

    @task(2)
    def detail(self) -> None:
        if not OUR_SITE:  # the API list, a query of its own making it uncached
            self.get(with_query(API_LIST, f"v={random.randint(0, 1_000_000)}"), with_query(API_LIST, "v=N"))
            return
        self.api_car_detail()

    @task(1)
    def odd_page(self) -> None:
        if not OUR_SITE:
            self.detail()
            return
        size = random.randint(20, 100)
        page = random.randint(1, max(1, self.car_count // size))
        self.get(with_query(API_LIST, f"page={page}&page_size={size}"), with_query(API_LIST, "page_size=N"))

    @task(1)
    def home(self) -> None:
        self.get(f"/?v={random.randint(0, 1_000_000)}", "/?v=N")


class ApiListUser(SiteUser):
    abstract = True
    wait_time = constant(0)

    @task
    def scenario(self) -> None:
        self.api_car_list()


class ApiDetailUser(SiteUser):
    abstract = True
    wait_time = constant(0)

    @task
    def scenario(self) -> None:
        self.api_car_detail()


class HomePageUser(SiteUser):
    abstract = True
    wait_time = constant(0)

    @task
    def scenario(self) -> None:
        self.home_page()


class LendReturnUser(SiteUser):
    """Authenticated writes: one lend and one return per iteration (KUBEDEFIS_API_TOKEN)."""

    abstract = True
    wait_time = constant(0)

    @task
    def scenario(self) -> None:
        self.lend_and_return()


class CreateCarUser(SiteUser):
    """Authenticated staff writes: one car created per iteration (KUBEDEFIS_API_TOKEN)."""

    abstract = True
    wait_time = constant(0)

    def on_start(self) -> None:
        super().on_start()
        self.find_garage()

    @task
    def scenario(self) -> None:
        self.new_car()


BENCH_SCENARIOS = {
    "API list, page of 50": ApiListUser,
    "API detail": ApiDetailUser,
    "public home page": HomePageUser,
    "API lend + return (write)": LendReturnUser,
    # Last: it adds cars, which the other scenarios would then read.
    "API create car (write)": CreateCarUser,
}
