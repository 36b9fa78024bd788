"""Error responses shared by middleware, Django's error handlers and the API."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.utils.html import escape


def wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or settings.KUBEDEFIS_COMPONENT == "api"


def json_error(message: str, status: int, fields: dict[str, Any] | None = None) -> JsonResponse:
    return JsonResponse({"message": message, "fields": fields or {}}, status=status)


def html_error(request: HttpRequest, title: str, status: int) -> HttpResponse:
    try:
        body = loader.render_to_string("error.html", {"title": title, "status": status}, request=None)
    except Exception:
        # The error page must render even when templates or the database are broken.
        body = f"<!doctype html><title>{escape(title)}</title><h1>{status}</h1><p>{escape(title)}</p>"
    return HttpResponse(body, status=status, content_type="text/html; charset=utf-8")


def error_response(request: HttpRequest, message: str, status: int) -> HttpResponse:
    if wants_json(request):
        return json_error(message, status)
    return html_error(request, message, status)
