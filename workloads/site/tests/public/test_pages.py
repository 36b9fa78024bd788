"""Server-rendered pages for visitors."""

from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def text(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_home_shows_the_car_count_and_the_newest_cars(client: Client, garage_data: dict[str, Any]) -> None:
    page = text(client.get("/"))

    assert '<strong id="car-count">3</strong>' in page
    assert page.index("AA-003-AA") < page.index("AA-002-AA") < page.index("AA-001-AA")
    assert '<meta name="viewport"' in page and "public/site.css" in page


def test_lists_link_to_details(client: Client, garage_data: dict[str, Any]) -> None:
    clio, key = garage_data["cars"][0], garage_data["keys"][1]

    assert f'href="/voitures/{clio.pk}/"' in text(client.get("/voitures/"))
    assert f'href="/garages/{clio.garage_id}/"' in text(client.get("/garages/"))
    assert f'href="/cles/{key.pk}/"' in text(client.get("/cles/"))


def test_car_list_is_paginated(client: Client, garage_data: dict[str, Any]) -> None:
    from tests.conftest import many_cars

    many_cars(25)

    first, second = text(client.get("/voitures/")), text(client.get("/voitures/?page=2"))
    assert "page 1 / 2 · 28 au total" in first and 'href="?page=2"' in first
    assert "page 2 / 2" in second and first.count("<tr>") == 21 and second.count("<tr>") == 9


@pytest.mark.parametrize("page", ["abc", "-3", "99999999999999999999"])
def test_a_strange_page_number_still_renders(client: Client, garage_data: dict[str, Any], page: str) -> None:
    assert client.get(f"/voitures/?page={page}").status_code == 200


def test_garage_detail_lists_its_cars(client: Client, garage_data: dict[str, Any]) -> None:
    paris = garage_data["garages"][0]

    page = text(client.get(f"/garages/{paris.pk}/"))

    assert (
        "Garage de Paris" in page and "AA-001-AA" in page and "AA-002-AA" in page and "AA-003-AA" not in page
    )


def test_car_detail_shows_its_key_state(client: Client, garage_data: dict[str, Any]) -> None:
    zoe = garage_data["cars"][1]

    page = text(client.get(f"/voitures/{zoe.pk}/"))

    assert "Renault Zoe" in page and "prêtée à alice" in page


def test_key_detail_shows_the_loan_history(client: Client, garage_data: dict[str, Any]) -> None:
    key = garage_data["keys"][1]

    page = text(client.get(f"/cles/{key.pk}/"))

    assert "prêtée à alice" in page and f'href="/cles/{key.pk}/rendre/"' in page


@pytest.mark.parametrize(
    "path", ["/voitures/999999/", "/garages/999999/", "/cles/999999/", "/cles/999999/preter/"]
)
def test_unknown_ids_are_a_plain_404_page(
    admin_client: Client, garage_data: dict[str, Any], path: str
) -> None:
    response = admin_client.get(path)

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html") and "Traceback" not in response.content.decode()


def test_pages_are_cached_for_visitors(client: Client, garage_data: dict[str, Any]) -> None:
    assert client.get("/cles/")["X-Kubedefis-Cache"] == "miss"
    assert client.get("/cles/")["X-Kubedefis-Cache"] == "hit"


def test_staff_sign_in_and_admin(client: Client, make_user: Any, garage_data: dict[str, Any]) -> None:
    make_user("chef", is_staff=True, is_superuser=True)

    assert "Connexion" in text(client.get("/accounts/login/"))
    response = client.post("/accounts/login/", {"username": "chef", "password": "a-long-test-password"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert "AA-001-AA" in text(client.get("/admin/garage/car/"))
    assert client.post("/accounts/logout/").status_code == 302


def test_admin_needs_sign_in(client: Client) -> None:
    response = client.get("/admin/")

    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
