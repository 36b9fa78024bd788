"""No N+1: every list, detail and page runs a fixed number of queries, whatever the number of rows."""

from typing import Any

import pytest
from django.test import Client

from tests.conftest import many_cars

pytestmark = pytest.mark.django_db

# (path, maximum queries on a cache miss). Cached reads add one query for the data version.
API_READS = [
    ("/api/garages?page_size=100", 3),
    ("/api/cars?page_size=100", 3),
    ("/api/keys?page_size=100", 3),
    ("/api/keys?lent=true&page_size=100", 3),
    ("/api/users?page_size=100", 2),
    ("/api/stats", 1),
    ("/api/garages/{garage}", 1),
    ("/api/cars/{car}", 1),
    ("/api/keys/{key}", 2),
]
PAGES = [
    ("/", 3),
    ("/garages/", 3),
    ("/garages/{garage}/", 4),
    ("/voitures/", 3),
    ("/voitures/{car}/", 4),
    ("/cles/", 3),
    ("/cles/{key}/", 3),
]


@pytest.fixture(params=[3, 120], ids=["few-rows", "many-rows"])
def rows(request: pytest.FixtureRequest) -> dict[str, int]:
    from garage.models import Car, Key, Loan

    many_cars(request.param)
    # Give the probed key a long loan history: the detail must not grow with it either.
    key = Key.objects.order_by("id").first()
    assert key is not None
    for loan in Loan.objects.filter(key=key):
        loan.delete()
    from garage import services

    user = Loan._meta.get_field("borrower").related_model.objects.first()
    for _ in range(request.param // 10 + 1):
        services.key_lend(actor=user, key_id=key.pk)
        services.key_return(actor=user, key_id=key.pk)
    car = Car.objects.order_by("id").first()
    assert car is not None
    return {"garage": car.garage_id, "car": car.pk, "key": key.pk}


@pytest.mark.parametrize(("path", "limit"), API_READS)
def test_api_reads(rows: dict[str, int], django_assert_max_num_queries: Any, path: str, limit: int) -> None:
    with django_assert_max_num_queries(limit):
        response = Client().get(path.format(**rows))

    assert response.status_code == 200


@pytest.mark.parametrize(("path", "limit"), PAGES)
def test_pages(rows: dict[str, int], django_assert_max_num_queries: Any, path: str, limit: int) -> None:
    with django_assert_max_num_queries(limit):
        response = Client().get(path.format(**rows))

    assert response.status_code == 200


def test_lend_and_return_are_bounded(
    rows: dict[str, int], api_as: Any, django_assert_max_num_queries: Any
) -> None:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.first()
    assert user is not None
    api = api_as(user)
    assert api.get("/api/users/me").status_code == 200  # the token's hourly last-use write, done
    # The token and its user: one more query than before authentication.
    with django_assert_max_num_queries(12):
        lent = api.post(f"/api/keys/{rows['key']}/lend", {})
    with django_assert_max_num_queries(11):
        returned = api.post(f"/api/keys/{rows['key']}/return")

    assert (lent.status_code, returned.status_code) == (200, 200)
