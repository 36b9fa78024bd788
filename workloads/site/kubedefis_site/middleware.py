"""Project-wide middleware: component headers, health probes, body limit, database outages."""

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from kubedefis_site import health
from kubedefis_site.client_limits import BodyTimeout
from kubedefis_site.db_router import reset_pinning
from kubedefis_site.responses import error_response, json_error, wants_json

logger = logging.getLogger(__name__)

GetResponse = Callable[[HttpRequest], HttpResponse]


class ComponentHeadersMiddleware:
    """Tags every response with the component and pod that produced it."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        reset_pinning()
        try:
            response = self.get_response(request)
        finally:
            reset_pinning()
        response["X-Kubedefis-Component"] = settings.KUBEDEFIS_COMPONENT
        response["X-Kubedefis-Pod"] = settings.KUBEDEFIS_POD
        response["X-Site-Version"] = settings.SITE_VERSION
        return response


class HealthCheckMiddleware:
    """Answers /healthz and /readyz before host validation, sessions or URL resolution."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.probes = {"/healthz": health.healthz, "/readyz": health.readyz}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = self.probes.get(request.path_info.rstrip("/") or "/")
        if probe is not None and request.method in ("GET", "HEAD"):
            return probe(request)
        return self.get_response(request)


# A refused body up to this size is read and dropped before the 413 goes out (see drain).
DRAIN_LIMIT = 1024 * 1024


def drain(request: HttpRequest, length: int) -> None:
    """Reads and drops the body of a request refused before it was read.

    Closing a connection with unread bytes in its socket makes the kernel send a reset, which can
    overtake the 413 already written: the proxy in front (Traefik, ingress-nginx) then answers 502,
    or hands the client a truncated answer. A body a little over the limit costs little to read; a
    huge one (the attack of défi 17) is never read, its sender gets the 413 or the reset. The read
    is bounded in time by the body deadline of client_limits.
    """
    stream = getattr(request, "_stream", None)
    left = length
    try:
        while stream is not None and left > 0:
            chunk = stream.read(min(64 * 1024, left))
            if not chunk:
                break
            left -= len(chunk)
    except (OSError, BodyTimeout):
        pass  # the client stopped sending: the connection is closed anyway


class BodySizeLimitMiddleware:
    """Refuses a declared oversized body with 413 before anything reads it."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.DATA_UPLOAD_MAX_MEMORY_SIZE is None:  # the naive profile (défi 17): no limit
            return self.get_response(request)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(request, "invalid Content-Length header", 400)
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            if length <= DRAIN_LIMIT:
                drain(request, length)
            return body_too_large(request)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RequestDataTooBig):
            return body_too_large(request)
        return None


class ApiJsonErrorsMiddleware:
    """Under /api/: messages in English (the pages are French), and an error produced outside the
    API's handlers (405, CSRF...) still turned into JSON."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not wants_json(request):
            return self.get_response(request)
        with translation.override("en"):
            response = self.get_response(request)
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith(
            "application/json"
        ):
            converted = json_error(response.reason_phrase.lower(), response.status_code)
            for header in ("Allow", "Retry-After"):
                if header in response:
                    converted[header] = response[header]
            return converted
        return response


class DatabaseUnavailableMiddleware:
    """Turns a lost database connection raised by a view into a 503 instead of a 500."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, OperationalError | InterfaceError):
            return database_unavailable(request, exception)
        return None


def body_too_large(request: HttpRequest) -> HttpResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return error_response(request, f"request body larger than {limit} bytes", 413)


def database_unavailable(request: HttpRequest, exception: BaseException) -> HttpResponse:
    logger.error("database unavailable", extra={"path": request.path, "error": str(exception).strip()})
    response = error_response(request, "database unavailable", 503)
    response["Retry-After"] = "5"
    return response
