"""Every API error is JSON `{"message": ..., "fields": {...}}`, produced here and nowhere else."""

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import DataError, IntegrityError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from garage.errors import ApplicationError
from kubedefis_site.client_limits import BodyTimeout
from kubedefis_site.middleware import body_too_large, database_unavailable
from kubedefis_site.responses import json_error

logger = logging.getLogger(__name__)

# Parameter locations and the body parameter's name are noise for a client.
_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie", "form", "payload", "filters"})


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in loc if str(part) not in _LOCATIONS]
    return ".".join(parts) or str(loc[0] if loc else "body")


def validation_fields(errors: list[dict[str, Any]]) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for error in errors:
        fields.setdefault(_field_name(error.get("loc", ())), []).append(str(error.get("msg", "invalid")))
    return fields


# A 401 says which credentials the API takes (RFC 9110 15.5.2; Bearer is RFC 6750).
WWW_AUTHENTICATE = 'Bearer realm="kubedefis"'


def unauthenticated(message: str = "authentication required") -> HttpResponse:
    response = json_error(message, 401)
    response["WWW-Authenticate"] = WWW_AUTHENTICATE
    return response


def install(api: NinjaAPI) -> None:
    @api.exception_handler(ApplicationError)
    def application_error(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
        if exc.status == 401:
            return unauthenticated(exc.message)
        return json_error(exc.message, exc.status, exc.fields)

    # No auth class of the operation (api/auth.py) named a user.
    @api.exception_handler(AuthenticationError)
    def no_credentials(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return unauthenticated()

    @api.exception_handler(ValidationError)
    def invalid_input(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        return json_error("invalid input", 422, validation_fields(exc.errors))

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        if exc.status_code == 400:
            message = "malformed JSON body"
        elif exc.status_code == 403:  # the session's CSRF check (api.auth.SessionAuth)
            message = "CSRF check failed: send the csrftoken cookie's value in the X-CSRFToken header"
        else:
            message = exc.message
        return json_error(message, exc.status_code)

    @api.exception_handler(Http404)
    def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return json_error("not found", 404)

    @api.exception_handler(BodyTimeout)
    def too_slow(request: HttpRequest, exc: BodyTimeout) -> HttpResponse:
        return json_error("request body not received in time", 408)

    @api.exception_handler(RequestDataTooBig)
    def too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        return body_too_large(request)

    @api.exception_handler(OperationalError)
    @api.exception_handler(InterfaceError)
    def database_down(request: HttpRequest, exc: Exception) -> HttpResponse:
        return database_unavailable(request, exc)

    # Safety nets behind input validation: a constraint the schema could not see.
    @api.exception_handler(IntegrityError)
    def integrity(request: HttpRequest, exc: IntegrityError) -> HttpResponse:
        logger.warning("integrity error reached the API", extra={"error": str(exc).strip()})
        return json_error("conflict with existing data", 409)

    @api.exception_handler(DataError)
    def data_error(request: HttpRequest, exc: DataError) -> HttpResponse:
        logger.warning("data error reached the API", extra={"error": str(exc).strip()})
        return json_error("invalid value", 422)

    @api.exception_handler(Exception)
    def unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.exception("unhandled API error", extra={"path": request.path})
        return json_error("internal server error", 500)
