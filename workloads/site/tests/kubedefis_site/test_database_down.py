"""With PostgreSQL unreachable: readiness fails, the API answers 503 JSON, pages a plain 503 page."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections
from django.test import Client

from kubedefis_site_testing.postgres import free_port


@pytest.fixture
def database_down(django_db_blocker: Any) -> Iterator[None]:
    """Points the connection at a port nobody listens on, as when the PostgreSQL pod is gone."""
    connection = connections["default"]
    with django_db_blocker.unblock():
        connection.close()
        original = connection.settings_dict["PORT"]
        connection.settings_dict["PORT"] = free_port()
        try:
            yield
        finally:
            connection.close()
            connection.settings_dict["PORT"] = original


def assert_no_traceback(response: Any) -> None:
    text = response.content.decode()
    assert "Traceback" not in text and "OperationalError" not in text and "psycopg" not in text


def test_readyz_is_503_json(database_down: None) -> None:
    response = Client().get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "message": "database unavailable"}


def test_healthz_stays_200_without_the_database(database_down: None) -> None:
    response = Client().get("/healthz")

    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/cars", None),
        ("get", "/api/cars/1", None),
        ("get", "/api/stats", None),
        ("get", "/api/users", None),
        ("post", "/api/garages", '{"name": "G", "city": "Paris"}'),
        ("post", "/api/keys/1/lend", '{"user_id": 1}'),
    ],
)
def test_api_is_503_json(database_down: None, method: str, path: str, body: str | None) -> None:
    client = Client()
    # A write with a token: checking it needs the database (without credentials it is a 401).
    response = (
        getattr(client, method)(
            path, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer kd_{'x' * 43}"
        )
        if body
        else client.get(path)
    )

    assert response.status_code == 503
    assert response.json() == {"message": "database unavailable", "fields": {}}
    assert response["Retry-After"] == "5"
    assert_no_traceback(response)


@pytest.mark.parametrize("path", ["/", "/voitures/", "/cles/1/", "/garages/"])
def test_pages_are_a_plain_503_page(database_down: None, path: str) -> None:
    response = Client().get(path)

    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert "database unavailable" in response.content.decode()
    assert_no_traceback(response)


def test_a_visitor_with_a_session_cookie_also_gets_503(database_down: None) -> None:
    client = Client()
    client.cookies["sessionid"] = "abcdefghijklmnopqrstuvwxyz012345"

    response = client.get("/voitures/")

    assert response.status_code == 503
    assert_no_traceback(response)


def test_everything_recovers_when_the_database_is_back(db: None) -> None:
    # Not using database_down: this test checks the normal path right after the others.
    assert Client().get("/readyz").status_code == 200
    assert Client().get("/api/cars").status_code == 200
