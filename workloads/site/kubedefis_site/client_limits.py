"""Per-client limits (défi 18): a token bucket per client, a cap on its requests in flight, a body deadline.

Each gunicorn process keeps its own counters (no shared store on the request path, nothing to go
down): with W workers per pod and P pods, a client gets at most about rate x W x P requests per
second in total, and holds at most `CLIENT_MAX_CONCURRENCY` threads of each process. That cap is
what keeps slow clients (a body trickling in byte by byte) from holding every thread: the other
clients always find free threads, and the body deadline frees the held ones.

The client is the address `TRUSTED_PROXIES` hops from the right of X-Forwarded-For followed by
the peer address: with the Ingress controller as the one proxy in front, the last
X-Forwarded-For entry, the one the controller wrote. Entries further left are whatever the
client sent, so they are never trusted.
"""

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from kubedefis_site.responses import error_response

GetResponse = Callable[[HttpRequest], HttpResponse]
MAX_TRACKED_CLIENTS = 10_000  # least recently seen clients are forgotten beyond this


def client_address(meta: dict[str, Any], trusted_proxies: int) -> str:
    """The client's address: `trusted_proxies` hops from the right of X-Forwarded-For + the peer."""
    chain = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    chain.append(str(meta.get("REMOTE_ADDR") or "unknown"))
    if trusted_proxies <= 0:
        return chain[-1]
    return chain[max(0, len(chain) - 1 - trusted_proxies)]


class TokenBuckets:
    """`rate` tokens per second per client, at most `burst` saved up; one token per request."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """0 when the request may go; otherwise the seconds until a token is back (Retry-After)."""
        return self._spend(client, take=True)

    def peek(self, client: str) -> float:
        """As take(), without spending a token: whether the client has one left."""
        return self._spend(client, take=False)

    def _spend(self, client: str, *, take: bool) -> float:
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
            if take and not wait:
                tokens -= 1
            self._buckets[client] = (tokens, now)
            while len(self._buckets) > MAX_TRACKED_CLIENTS:
                self._buckets.popitem(last=False)
        return wait


class InFlight:
    """Requests being served per client, with a cap."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def slot(self, client: str) -> Iterator[bool]:
        """Yields whether the client got a slot (False: it already has `limit` requests in flight)."""
        with self._lock:
            count = self._counts.get(client, 0)
            granted = count < self.limit
            if granted:
                self._counts[client] = count + 1
        try:
            yield granted
        finally:
            if granted:
                with self._lock:
                    left = self._counts[client] - 1
                    if left:
                        self._counts[client] = left
                    else:
                        del self._counts[client]

    def count(self, client: str) -> int:
        return self._counts.get(client, 0)


class BodyTimeout(Exception):
    """The request body did not arrive before its deadline."""


class DeadlineStream:
    """A request body stream that gives up once `deadline` (time.monotonic) has passed.

    Reads go in chunks so the deadline is checked between them; gunicorn.conf.py also bounds
    each socket read (pre_request), so one stalled read cannot outlast the deadline by much.
    """

    CHUNK = 64 * 1024

    def __init__(self, stream: Any, deadline: float) -> None:
        self.stream = stream
        self.deadline = deadline

    def _check(self) -> None:
        if time.monotonic() > self.deadline:
            raise BodyTimeout("request body too slow")

    def read(self, size: int = -1) -> bytes:
        if size is not None and 0 <= size <= self.CHUNK:
            self._check()
            return self._read(size)
        parts = []
        remaining = math.inf if size is None or size < 0 else size
        while remaining > 0:
            self._check()
            data = self._read(int(min(self.CHUNK, remaining)))
            if not data:
                break
            parts.append(data)
            remaining -= len(data)
        return b"".join(parts)

    def _read(self, size: int) -> bytes:
        try:
            return self.stream.read(size)
        except TimeoutError as exc:
            raise BodyTimeout("request body stalled") from exc

    def readline(self, size: int = -1) -> bytes:
        self._check()
        try:
            return self.stream.readline(size)
        except TimeoutError as exc:
            raise BodyTimeout("request body stalled") from exc

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)  # close() and the rest, as the wrapped stream


def too_many_requests(request: HttpRequest, message: str, retry_after: float) -> HttpResponse:
    response = error_response(request, message, 429)
    response["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


class ClientLimitsMiddleware:
    """429 for a client over its rate or with too many requests in flight; 408 for a body too slow."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.trusted_proxies = settings.TRUSTED_PROXIES
        self.buckets = (
            TokenBuckets(settings.RATELIMIT_RATE, settings.RATELIMIT_BURST)
            if settings.RATELIMIT_RATE
            else None
        )
        self.in_flight = (
            InFlight(settings.CLIENT_MAX_CONCURRENCY) if settings.CLIENT_MAX_CONCURRENCY else None
        )
        self.body_timeout = settings.BODY_TIMEOUT

    def __call__(self, request: HttpRequest) -> HttpResponse:
        client = client_address(request.META, self.trusted_proxies)
        if self.buckets is not None and (wait := self.buckets.take(client)):
            return too_many_requests(request, "too many requests from this client", wait)
        if self.body_timeout and hasattr(request, "_stream"):
            request._stream = DeadlineStream(request._stream, time.monotonic() + self.body_timeout)
        if self.in_flight is None:
            return self._serve(request)
        with self.in_flight.slot(client) as granted:
            if not granted:
                return too_many_requests(request, "too many requests in flight from this client", 1)
            return self._serve(request)

    def _serve(self, request: HttpRequest) -> HttpResponse:
        try:
            return self.get_response(request)
        except BodyTimeout:
            return self._too_slow(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, BodyTimeout):
            return self._too_slow(request)
        return None

    def _too_slow(self, request: HttpRequest) -> HttpResponse:
        # gunicorn closes the connection: the rest of the body is never read.
        return error_response(request, "request body not received in time", 408)
