"""Défi 19: plain-HTTP requests that came through the Ingress are redirected to HTTPS.

Django's SECURE_SSL_REDIRECT redirects every request that is not secure, which includes the
kubelet's probes and in-cluster callers (helm test pods, other services) that talk plain HTTP to
the Service on purpose. Here only requests that say they came through a proxy over plain HTTP
(`X-Forwarded-Proto: http`) are redirected; the probes are answered before this middleware.
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect

GetResponse = Callable[[HttpRequest], HttpResponse]


class HttpsRedirectMiddleware:
    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.enabled = settings.HTTPS_REDIRECT
        self.host = settings.HTTPS_HOST

    def __call__(self, request: HttpRequest) -> HttpResponse:
        forwarded = request.META.get("HTTP_X_FORWARDED_PROTO", "").split(",")[0].strip().lower()
        if self.enabled and forwarded == "http":
            host = self.host or request.get_host().rsplit(":", 1)[0]
            return HttpResponsePermanentRedirect(f"https://{host}{request.get_full_path()}")
        return self.get_response(request)
