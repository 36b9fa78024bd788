"""Create, read, update, delete through the API, and the read-your-writes guarantees graders rely on."""

from typing import Any

import pytest

from garage.models import Car, Garage, Key, Loan

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(staff_api: Any) -> Any:
    """These tests write as staff; who may write what is tested in tests/api/test_permissions.py."""
    return staff_api


def test_list_cars_is_paginated_with_default_page_size_20(api: Any, garage_data: dict[str, Any]) -> None:
    from tests.conftest import many_cars

    many_cars(30)
    body = api.get("/api/cars").json()

    assert body["count"] == 33
    assert body["page"] == 1 and body["page_size"] == 20 and body["pages"] == 2
    assert body["next"] == 2 and body["previous"] is None
    assert len(body["results"]) == 20
    assert [car["id"] for car in body["results"]] == sorted(car["id"] for car in body["results"])


def test_second_page_holds_the_rest(api: Any, garage_data: dict[str, Any]) -> None:
    body = api.get("/api/cars?page=2&page_size=2").json()

    assert [car["plate"] for car in body["results"]] == ["AA-003-AA"]
    assert body["next"] is None and body["previous"] == 1


def test_page_past_the_end_is_empty_not_an_error(api: Any, garage_data: dict[str, Any]) -> None:
    response = api.get("/api/cars?page=50")

    assert response.status_code == 200
    assert response.json()["results"] == [] and response.json()["count"] == 3


def test_car_list_filters_by_garage(api: Any, garage_data: dict[str, Any]) -> None:
    evry = garage_data["garages"][1]

    body = api.get(f"/api/cars?garage_id={evry.pk}").json()

    assert [car["plate"] for car in body["results"]] == ["AA-003-AA"]
    assert body["results"][0]["garage_name"] == "Garage d'Évry"


def test_create_car_returns_201_with_the_stored_car(api: Any, garage_data: dict[str, Any]) -> None:
    paris = garage_data["garages"][0]

    response = api.post(
        "/api/cars",
        {
            "make": "Tesla",
            "model": "Model 3",
            "plate": "zz 999 zz",
            "year": 2023,
            "garage_id": paris.pk,
            "key_colour": "blanc",
        },
    )

    assert response.status_code == 201
    body = response.json()
    car = Car.objects.get(pk=body["id"])
    assert car.plate == "ZZ 999 ZZ"
    assert body["plate"] == "ZZ 999 ZZ" and body["garage_name"] == "Garage de Paris"
    assert body["key_id"] == car.key.pk and car.key.colour == "blanc"


def test_a_car_created_through_the_api_shows_on_the_public_pages_at_once(
    api: Any, client: Any, garage_data: dict[str, Any]
) -> None:
    # Warm the caches first: the write must invalidate them.
    assert client.get("/").status_code == 200
    assert client.get("/voitures/?page=1").status_code == 200
    assert api.get("/api/cars?page_size=100").status_code == 200

    created = api.post(
        "/api/cars",
        {
            "make": "Alpine",
            "model": "A110",
            "plate": "AL-110-PN",
            "year": 2022,
            "garage_id": garage_data["garages"][0].pk,
        },
    ).json()

    home = client.get("/")
    assert home["X-Kubedefis-Cache"] == "miss"
    assert "AL-110-PN" in home.content.decode()
    assert '<strong id="car-count">4</strong>' in home.content.decode()
    assert "AL-110-PN" in client.get("/voitures/?page=1").content.decode()
    assert created["id"] in [car["id"] for car in api.get("/api/cars?page_size=100").json()["results"]]


def test_get_car_detail(api: Any, garage_data: dict[str, Any]) -> None:
    clio = garage_data["cars"][0]

    body = api.get(f"/api/cars/{clio.pk}").json()

    assert body["plate"] == "AA-001-AA" and body["key_id"] == clio.key.pk and body["year"] == 2019


def test_patch_car_changes_only_given_fields(api: Any, garage_data: dict[str, Any]) -> None:
    clio = garage_data["cars"][0]
    evry = garage_data["garages"][1]

    response = api.patch(f"/api/cars/{clio.pk}", {"year": 2020, "garage_id": evry.pk})

    assert response.status_code == 200
    clio.refresh_from_db()
    assert (clio.year, clio.garage_id, clio.plate) == (2020, evry.pk, "AA-001-AA")


def test_put_car_replaces_all_fields(api: Any, garage_data: dict[str, Any]) -> None:
    clio = garage_data["cars"][0]
    body = {
        "make": "Renault",
        "model": "Clio V",
        "plate": "AA-101-AA",
        "year": 2024,
        "garage_id": clio.garage_id,
    }

    response = api.put(f"/api/cars/{clio.pk}", body)

    assert response.status_code == 200
    assert response.json()["model"] == "Clio V"
    clio.refresh_from_db()
    assert clio.plate == "AA-101-AA"


def test_put_car_without_every_field_is_rejected(api: Any, garage_data: dict[str, Any]) -> None:
    clio = garage_data["cars"][0]

    response = api.put(f"/api/cars/{clio.pk}", {"year": 2024})

    assert response.status_code == 422
    assert "make" in response.json()["fields"]


def test_delete_car_removes_it_with_its_key(api: Any, garage_data: dict[str, Any]) -> None:
    clio = garage_data["cars"][0]

    assert api.delete(f"/api/cars/{clio.pk}").status_code == 204
    assert not Car.objects.filter(pk=clio.pk).exists()
    assert not Key.objects.filter(car_id=clio.pk).exists()


def test_deleting_a_car_whose_key_is_lent_is_a_conflict(api: Any, garage_data: dict[str, Any]) -> None:
    zoe = garage_data["cars"][1]

    response = api.delete(f"/api/cars/{zoe.pk}")

    assert response.status_code == 409
    assert Car.objects.filter(pk=zoe.pk).exists()


def test_garage_crud(api: Any, db: None) -> None:
    created = api.post("/api/garages", {"name": "Garage du Lac", "city": "Annecy"})
    assert created.status_code == 201
    garage_id = created.json()["id"]
    assert created.json() | {"created_at": None} == {
        "id": garage_id,
        "name": "Garage du Lac",
        "city": "Annecy",
        "address": "",
        "car_count": 0,
        "created_at": None,
    }

    assert api.patch(f"/api/garages/{garage_id}", {"address": "1 quai"}).json()["address"] == "1 quai"
    assert api.put(f"/api/garages/{garage_id}", {"name": "Lac", "city": "Annecy"}).json()["address"] == ""
    assert api.get(f"/api/garages/{garage_id}").json()["name"] == "Lac"
    assert api.get("/api/garages").json()["count"] == 1
    assert api.delete(f"/api/garages/{garage_id}").status_code == 204
    assert not Garage.objects.exists()


def test_deleting_a_garage_that_has_cars_is_a_conflict(api: Any, garage_data: dict[str, Any]) -> None:
    paris = garage_data["garages"][0]

    response = api.delete(f"/api/garages/{paris.pk}")

    assert response.status_code == 409
    assert response.json()["message"] == f"garage {paris.pk} still has cars"
    assert Garage.objects.filter(pk=paris.pk).exists()


def test_garage_list_counts_cars(api: Any, garage_data: dict[str, Any]) -> None:
    results = api.get("/api/garages").json()["results"]

    assert {garage["name"]: garage["car_count"] for garage in results} == {
        "Garage de Paris": 2,
        "Garage d'Évry": 1,
    }


def test_key_crud(api: Any, garage_data: dict[str, Any]) -> None:
    paris = garage_data["garages"][0]
    car = api.post(
        "/api/cars",
        {"make": "Fiat", "model": "500", "plate": "FI-500-AT", "year": 2015, "garage_id": paris.pk},
    ).json()
    assert car["key_id"] is None

    created = api.post("/api/keys", {"car_id": car["id"], "colour": "jaune"})
    assert created.status_code == 201
    key_id = created.json()["id"]
    assert created.json()["lent"] is False and created.json()["loans"] == []
    assert api.get(f"/api/cars/{car['id']}").json()["key_id"] == key_id

    assert api.patch(f"/api/keys/{key_id}", {"colour": "or"}).json()["colour"] == "or"
    assert api.put(f"/api/keys/{key_id}", {"colour": "argent"}).json()["colour"] == "argent"
    assert api.delete(f"/api/keys/{key_id}").status_code == 204
    assert not Key.objects.filter(pk=key_id).exists()


def test_a_second_key_for_the_same_car_is_a_conflict(api: Any, garage_data: dict[str, Any]) -> None:
    clio = garage_data["cars"][0]

    response = api.post("/api/keys", {"car_id": clio.pk, "colour": "gris"})

    assert response.status_code == 409
    assert Key.objects.filter(car=clio).count() == 1


def test_key_list_shows_who_holds_each_key(api: Any, garage_data: dict[str, Any]) -> None:
    results = api.get("/api/keys").json()["results"]

    by_plate = {key["car_plate"]: key for key in results}
    assert by_plate["AA-002-AA"]["lent"] is True
    assert by_plate["AA-002-AA"]["borrower_username"] == "alice"
    assert by_plate["AA-001-AA"]["lent"] is False and by_plate["AA-001-AA"]["borrower_id"] is None


def test_key_list_filters_on_lent(api: Any, garage_data: dict[str, Any]) -> None:
    lent = api.get("/api/keys?lent=true").json()
    available = api.get("/api/keys?lent=false").json()

    assert [key["car_plate"] for key in lent["results"]] == ["AA-002-AA"] and lent["count"] == 1
    assert available["count"] == 2 and all(not key["lent"] for key in available["results"])


def test_users_are_listed_read_only(api: Any, garage_data: dict[str, Any]) -> None:
    body = api.get("/api/users").json()

    assert [user["username"] for user in body["results"]] == ["manager", "alice", "bob"]
    assert api.post("/api/users", {"username": "eve"}).status_code == 405


def test_stats_count_every_model(api: Any, garage_data: dict[str, Any]) -> None:
    assert api.get("/api/stats").json() == {
        "garages": 2,
        "cars": 3,
        "keys": 3,
        "loans": 1,
        "open_loans": 1,
        "users": 3,
    }
    assert Loan.objects.count() == 1
