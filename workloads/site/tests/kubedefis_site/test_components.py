"""DJANGO_COMPONENT decides which URLs a process serves; every response says who answered."""

import socket
from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def component(settings: Any) -> Any:
    def use(name: str) -> None:
        settings.KUBEDEFIS_COMPONENT = name
        settings.ROOT_URLCONF = f"kubedefis_site.urls.{name}"

    return use


def test_every_response_names_the_component_and_the_pod(component: Any) -> None:
    component("site")
    client = Client()

    for path in ("/", "/api/cars", "/healthz", "/readyz", "/nope/", "/api/nope"):
        response = client.get(path)
        assert response["X-Kubedefis-Component"] == "site", path
        assert response["X-Kubedefis-Pod"] == socket.gethostname(), path


def test_site_component_serves_pages_and_api(component: Any) -> None:
    component("site")
    client = Client()

    assert client.get("/").status_code == 200
    assert client.get("/api/cars").status_code == 200
    assert client.get("/admin/login/").status_code == 200


def test_api_component_has_no_public_pages(component: Any) -> None:
    component("api")
    client = Client()

    for path in ("/", "/voitures/", "/admin/login/", "/accounts/login/"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"message": "not found", "fields": {}}
    api = client.get("/api/cars")
    assert api.status_code == 200 and api["X-Kubedefis-Component"] == "api"
    assert client.get("/api/openapi.json").status_code == 200
    assert client.get("/healthz").status_code == 200


def test_public_component_has_no_api(component: Any) -> None:
    component("public")
    client = Client()

    response = client.get("/api/cars")
    assert response.status_code == 404
    assert client.get("/api/openapi.json").status_code == 404
    page = client.get("/")
    assert page.status_code == 200 and page["X-Kubedefis-Component"] == "public"
    assert client.get("/admin/login/").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_unknown_page_is_a_plain_html_404(component: Any) -> None:
    component("site")

    response = Client().get("/nope/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert "Traceback" not in response.content.decode()


def test_openapi_document_and_docs_are_served(component: Any) -> None:
    component("site")
    client = Client()

    document = client.get("/api/openapi.json").json()
    assert {"/api/garages", "/api/cars", "/api/keys", "/api/users", "/api/stats"} <= set(document["paths"])
    assert "post" in document["paths"]["/api/keys/{key_id}/lend"]
    assert "post" in document["paths"]["/api/keys/{key_id}/return"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
