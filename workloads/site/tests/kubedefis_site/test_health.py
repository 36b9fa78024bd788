"""Liveness and readiness probes."""

import pytest
from django.db import connection
from django.test import Client


def test_healthz_is_ok_without_touching_the_database() -> None:
    # No `db` fixture: pytest-django makes any database access in this test raise.
    response = Client().get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_probes_ignore_allowed_hosts(db: None) -> None:
    # kubelet sends the pod IP as Host, which DJANGO_ALLOWED_HOSTS need not list.
    client = Client(HTTP_HOST="10.244.1.17:8000")

    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/api/cars").status_code == 400


@pytest.mark.django_db
def test_readyz_is_ok_when_the_database_is_migrated() -> None:
    response = Client().get("/readyz")

    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_503_while_a_migration_is_unapplied() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = 'garage' AND name = '0001_initial'")

    response = Client().get("/readyz")

    assert response.status_code == 503
    assert response.json()["message"] == "unapplied migrations"
    assert "garage.0001_initial" in response.json()["pending"]


def test_probes_answer_head_requests(db: None) -> None:
    assert Client().head("/healthz").status_code == 200
