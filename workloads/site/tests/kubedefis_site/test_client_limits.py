"""Défi 18: per-client rate limit, cap on requests in flight, request body deadline."""

import io
import json
import threading
import time
from typing import Any

import pytest
from django.test import Client

from kubedefis_site.client_limits import (
    BodyTimeout,
    ClientLimitsMiddleware,
    DeadlineStream,
    InFlight,
    TokenBuckets,
    client_address,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("forwarded", "trusted", "expected"),
    [
        ("", 1, "10.0.0.9"),  # nobody in front: the peer itself
        ("203.0.113.7", 1, "203.0.113.7"),  # the Ingress wrote the client's address
        ("1.2.3.4, 203.0.113.7", 1, "203.0.113.7"),  # what the client claims (1.2.3.4) is ignored
        ("1.2.3.4, 203.0.113.7", 2, "1.2.3.4"),  # two trusted proxies
        ("203.0.113.7", 0, "10.0.0.9"),  # no proxy trusted: the peer
        ("203.0.113.7", 5, "203.0.113.7"),  # fewer hops than trusted: the leftmost
    ],
)
def test_client_address_trusts_only_the_configured_hops(forwarded: str, trusted: int, expected: str) -> None:
    meta = {"REMOTE_ADDR": "10.0.0.9", "HTTP_X_FORWARDED_FOR": forwarded}
    assert client_address(meta, trusted) == expected


def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    now = [100.0]
    buckets = TokenBuckets(rate=2, burst=3, clock=lambda: now[0])

    assert [buckets.take("a") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("a") == pytest.approx(0.5)  # empty: a token comes back in 1/rate s
    assert buckets.take("b") == 0  # another client has its own bucket
    now[0] += 0.5
    assert buckets.take("a") == 0
    assert buckets.take("a") > 0


def test_in_flight_cap_is_per_client_and_released() -> None:
    in_flight = InFlight(limit=2)
    with in_flight.slot("a") as first, in_flight.slot("a") as second, in_flight.slot("a") as third:
        assert (first, second, third) == (True, True, False)
        with in_flight.slot("b") as other:
            assert other
    assert in_flight.count("a") == 0 and in_flight.count("b") == 0


def test_a_flood_from_one_client_gets_429_while_another_client_is_served(settings: Any) -> None:
    settings.RATELIMIT_RATE = 1.0
    settings.RATELIMIT_BURST = 5
    client = Client()
    flood = [client.get("/api/stats", HTTP_X_FORWARDED_FOR="198.51.100.66").status_code for _ in range(10)]
    other = client.get("/api/stats", HTTP_X_FORWARDED_FOR="203.0.113.7")

    assert flood[:5] == [200] * 5 and set(flood[5:]) == {429}
    assert other.status_code == 200
    limited = client.get("/api/stats", HTTP_X_FORWARDED_FOR="198.51.100.66")
    assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1
    assert limited.json()["message"] == "too many requests from this client"
    page = client.get("/", HTTP_X_FORWARDED_FOR="198.51.100.66")
    assert page.status_code == 429 and page["Content-Type"].startswith("text/html")


def test_probes_are_never_rate_limited(settings: Any) -> None:
    settings.RATELIMIT_RATE = 1.0
    settings.RATELIMIT_BURST = 1
    client = Client()
    assert {client.get("/healthz").status_code for _ in range(5)} == {200}


def test_a_client_with_too_many_requests_in_flight_gets_429(settings: Any, rf: Any) -> None:
    settings.RATELIMIT_RATE = 0
    settings.CLIENT_MAX_CONCURRENCY = 1
    release, inside = threading.Event(), threading.Event()

    def slow_view(request: Any) -> Any:
        from django.http import HttpResponse

        inside.set()
        release.wait(5)
        return HttpResponse("done")

    middleware = ClientLimitsMiddleware(slow_view)
    results: list[int] = []
    first = threading.Thread(target=lambda: results.append(middleware(rf.get("/x")).status_code))
    first.start()
    assert inside.wait(5)
    second = middleware(rf.get("/x")).status_code
    other = middleware(rf.get("/x", HTTP_X_FORWARDED_FOR="203.0.113.7"))
    release.set()
    first.join(5)
    assert (results, second) == ([200], 429)
    assert other.status_code == 200


class TrickleStream:
    """A body arriving one byte per `delay` seconds."""

    def __init__(self, size: int, delay: float) -> None:
        self.left, self.delay = size, delay

    def read(self, size: int = -1) -> bytes:
        if not self.left:
            return b""
        time.sleep(self.delay)
        self.left -= 1
        return b"x"

    def close(self) -> None:
        self.left = 0


def test_deadline_stream_gives_up_on_a_slow_body() -> None:
    stream = DeadlineStream(TrickleStream(size=1000, delay=0.01), deadline=time.monotonic() + 0.1)
    with pytest.raises(BodyTimeout):
        while stream.read(1):
            pass
    fast = DeadlineStream(io.BytesIO(b"y" * 200_000), deadline=time.monotonic() + 5)
    assert fast.read() == b"y" * 200_000


def test_a_body_too_slow_is_answered_408(settings: Any, rf: Any) -> None:
    settings.RATELIMIT_RATE = 0
    settings.BODY_TIMEOUT = 1

    def reads_body(request: Any) -> Any:
        from django.http import HttpResponse

        return HttpResponse(request.body)

    request = rf.post("/api/cars", data=b"{}", content_type="application/json")
    request._stream = TrickleStream(size=10_000, delay=0.2)
    response = ClientLimitsMiddleware(reads_body)(request)
    assert response.status_code == 408
    assert json.loads(response.content)["message"] == "request body not received in time"
