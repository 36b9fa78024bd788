"""Défi 19: security headers, HTTPS redirect of requests that came through the Ingress over HTTP."""

from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_security_headers_on_pages_and_api() -> None:
    client = Client()
    for path in ("/", "/api/cars"):
        response = client.get(path)
        assert response["X-Content-Type-Options"] == "nosniff", path
        assert response["X-Frame-Options"] == "DENY", path
        assert response["Referrer-Policy"] == "same-origin", path


def test_hsts_only_on_https(settings: Any) -> None:
    settings.SECURE_HSTS_SECONDS = 31536000
    client = Client()
    assert "Strict-Transport-Security" not in client.get("/")
    secure = client.get("/", HTTP_X_FORWARDED_PROTO="https")
    assert secure["Strict-Transport-Security"] == "max-age=31536000"


def test_http_through_the_ingress_is_redirected_to_https(settings: Any) -> None:
    settings.HTTPS_REDIRECT = True
    settings.HTTPS_HOST = None
    client = Client()
    response = client.get("/voitures/?page=2", HTTP_X_FORWARDED_PROTO="http", HTTP_HOST="localhost:8080")
    assert response.status_code == 301
    assert response["Location"] == "https://localhost/voitures/?page=2"
    assert client.get("/voitures/", HTTP_X_FORWARDED_PROTO="https").status_code == 200


def test_redirect_host_can_name_the_https_port(settings: Any) -> None:
    settings.HTTPS_REDIRECT = True
    settings.HTTPS_HOST = "localhost:8443"
    response = Client().get("/api/cars", HTTP_X_FORWARDED_PROTO="http")
    assert response.status_code == 301 and response["Location"] == "https://localhost:8443/api/cars"


def test_probes_and_in_cluster_callers_are_not_redirected(settings: Any) -> None:
    settings.HTTPS_REDIRECT = True
    client = Client()
    # kubelet probes (answered before any redirect), even with the header
    assert client.get("/healthz", HTTP_X_FORWARDED_PROTO="http").status_code == 200
    assert client.get("/readyz", HTTP_X_FORWARDED_PROTO="http").status_code == 200
    # a pod calling the Service directly (helm test): no X-Forwarded-Proto, no redirect
    assert client.get("/api/stats").status_code == 200
