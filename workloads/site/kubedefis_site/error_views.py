"""handler400/403/404/500: JSON under /api/, a plain HTML page elsewhere, never a traceback."""

import sys

from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

from kubedefis_site.middleware import body_too_large, database_unavailable
from kubedefis_site.responses import error_response


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):
        return body_too_large(request)
    return error_response(request, "bad request", 400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_response(request, "forbidden", 403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_response(request, "not found", 404)


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls this from inside its `except` block, so the exception is still current;
    # a database lost inside a middleware (e.g. sessions) is an outage, not a bug.
    exception = sys.exc_info()[1]
    if isinstance(exception, OperationalError | InterfaceError):
        return database_unavailable(request, exception)
    return error_response(request, "internal server error", 500)
