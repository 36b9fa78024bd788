"""Management commands: migrate state, wait_for_db, load_sample."""

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from garage import selectors
from garage.sample_data import SIZES, plate
from kubedefis_site_testing.postgres import free_port


@pytest.mark.django_db
def test_models_and_migrations_agree() -> None:
    call_command("makemigrations", "--check", "--dry-run", stdout=StringIO())


@pytest.mark.django_db
def test_wait_for_db_returns_once_the_database_answers() -> None:
    out = StringIO()

    call_command("wait_for_db", "--timeout", "5", stdout=out)

    assert "database 'default' is available" in out.getvalue()


def test_wait_for_db_gives_up_after_the_timeout(django_db_blocker: Any) -> None:
    connection = connections["default"]
    with django_db_blocker.unblock():
        connection.close()
        original = connection.settings_dict["PORT"]
        connection.settings_dict["PORT"] = free_port()
        try:
            with pytest.raises(CommandError, match=r"database 'default' unavailable after 0.5s"):
                call_command("wait_for_db", "--timeout", "0.5", "--interval", "0.1", stderr=StringIO())
        finally:
            connection.close()
            connection.settings_dict["PORT"] = original


@pytest.mark.django_db
def test_load_sample_small_is_idempotent() -> None:
    call_command("load_sample", "--size", "small", stdout=StringIO())
    first = selectors.stats()
    call_command("load_sample", "--size", "small", stdout=StringIO())

    assert selectors.stats() == first
    assert (first["garages"], first["cars"], first["keys"], first["users"]) == (4, 200, 200, 10)
    assert 0 < first["open_loans"] < first["loans"]


@pytest.mark.django_db
def test_load_sample_reset_starts_over(garage_data: dict[str, Any]) -> None:
    call_command("load_sample", "--size", "small", "--reset", stdout=StringIO())

    stats = selectors.stats()
    assert (stats["garages"], stats["cars"]) == (4, 200)
    assert not selectors.car_page(page=1, page_size=100, garage_id=garage_data["garages"][0].pk)["count"]


def test_sample_sizes_and_plates() -> None:
    assert SIZES["large"].cars == 5000
    plates = [plate(i) for i in range(SIZES["large"].cars)]
    assert len(set(plates)) == len(plates)
    assert plate(0) == "AA-000-AA"


@pytest.mark.django_db
def test_the_admin_user_comes_from_the_standard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.contrib.auth import get_user_model

    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "prof")
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "prof@example.org")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-admin-password")

    call_command("createsuperuser", "--noinput", stdout=StringIO())

    admin = get_user_model().objects.get(username="prof")
    assert admin.is_staff and admin.is_superuser and admin.check_password("a-long-admin-password")
