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
"""

import itertools
import os
import random
import threading
import uuid
from collections import Counter
from typing import Any

from locust import FastHttpUser, between, constant, task

API_PAGE_SIZE = 50
# X-Kubedefis-Cache values seen, per request name: the benchmark reports the hit ratio.
CACHE_COUNTS: Counter[tuple[str, str]] = Counter()
_next_key = itertools.count()
_lock = threading.Lock()


def record_cache(name: str, response: Any) -> None:
    CACHE_COUNTS[(name, response.headers.get("X-Kubedefis-Cache") or "-")] += 1


HOST_HEADER = os.environ.get("KUBEDEFIS_HOST_HEADER")
REQUEST_TIMEOUT = float(os.environ.get("KUBEDEFIS_LOAD_TIMEOUT") or 60)


class SiteUser(FastHttpUser):
    abstract = True
    default_headers = {"Host": HOST_HEADER} if HOST_HEADER else None
    network_timeout = REQUEST_TIMEOUT
    connection_timeout = REQUEST_TIMEOUT
    car_count = 1
    car_ids: list[int]
    key_id: int | None
    user_id: int | None

    def on_start(self) -> None:
        cars = self.client.get("/api/cars?page_size=100", name="setup").json()
        self.car_count = max(1, cars["count"])
        self.car_ids = [car["id"] for car in cars["results"]] or [1]
        keys = self.client.get("/api/keys?lent=false&page_size=100", name="setup").json()["results"]
        users = self.client.get("/api/users?page_size=1", name="setup").json()["results"]
        # Each virtual user lends its own key, so concurrent users never conflict (409).
        with _lock:
            index = next(_next_key)
        self.key_id = keys[index % len(keys)]["id"] if keys else None
        self.user_id = users[0]["id"] if users else None

    def get(self, path: str, name: str) -> None:
        with self.client.get(path, name=name, catch_response=True) as response:
            record_cache(name, response)
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")

    def api_car_list(self) -> None:
        pages = max(1, -(-self.car_count // API_PAGE_SIZE))
        self.get(f"/api/cars?page={random.randint(1, pages)}&page_size={API_PAGE_SIZE}", "/api/cars?page_size=50")

    def api_car_detail(self) -> None:
        self.get(f"/api/cars/{random.choice(self.car_ids)}", "/api/cars/{id}")

    def home_page(self) -> None:
        self.get("/", "/ (home)")

    def car_list_page(self) -> None:
        self.get(f"/voitures/?page={random.randint(1, 20)}", "/voitures/")

    def key_page(self) -> None:
        if self.key_id is not None:
            self.get(f"/cles/{self.key_id}/", "/cles/{id}/")

    def lend_and_return(self) -> None:
        if self.key_id is None or self.user_id is None:
            return
        for action, body in (("lend", {"user_id": self.user_id}), ("return", None)):
            name = f"/api/keys/{{id}}/{action}"
            with self.client.post(
                f"/api/keys/{self.key_id}/{action}", json=body, name=name, catch_response=True
            ) as response:
                if response.status_code != 200:
                    response.failure(f"status {response.status_code}: {response.text[:100]}")


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
    garage_id: int | None = None

    def on_start(self) -> None:
        super().on_start()
        garages = self.client.get("/api/garages?page_size=1", name="setup").json()["results"]
        self.garage_id = garages[0]["id"] if garages else None

    @task(4)
    def read_cars(self) -> None:
        self.api_car_list()

    @task(3)
    def read_car(self) -> None:
        self.api_car_detail()

    @task(1)
    def read_keys(self) -> None:
        self.get("/api/keys?lent=false&page_size=20", "/api/keys?lent=false")

    @task(2)
    def lend(self) -> None:
        self.lend_and_return()

    @task(1)
    def create_car(self) -> None:
        if self.garage_id is None:
            return
        plate = f"LD-{uuid.uuid4().hex[:8].upper()}"
        car = {"make": "Renault", "model": "Zoé", "plate": plate, "year": 2024, "garage_id": self.garage_id}
        with self.client.post("/api/cars", json=car, name="POST /api/cars", catch_response=True) as response:
            if response.status_code != 201:
                response.failure(f"status {response.status_code}: {response.text[:100]}")
            elif response.json().get("make") != "Renault":
                response.failure(f"the car came back as {response.text[:200]}")
            else:
                self.car_ids.append(response.json()["id"])


class CpuHog(SiteUser):
    """Défi 9: uncached reads back to back (details, odd page sizes), to load the pods' CPU."""

    wait_time = constant(0)

    @task(2)
    def detail(self) -> None:
        self.api_car_detail()

    @task(1)
    def odd_page(self) -> None:
        size = random.randint(20, 100)
        page = random.randint(1, max(1, self.car_count // size))
        self.get(f"/api/cars?page={page}&page_size={size}", "/api/cars?page_size=N")

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
    abstract = True
    wait_time = constant(0)

    @task
    def scenario(self) -> None:
        self.lend_and_return()


BENCH_SCENARIOS = {
    "API list, page of 50": ApiListUser,
    "API detail": ApiDetailUser,
    "public home page": HomePageUser,
    "API lend + return (write)": LendReturnUser,
}
