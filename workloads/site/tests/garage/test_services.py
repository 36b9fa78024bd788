"""Services validate with full_clean and write atomically."""

from typing import Any

import pytest

from garage import services
from garage.errors import Conflict, Invalid, NotFound
from garage.models import Car, Garage, Key

pytestmark = pytest.mark.django_db


def test_services_take_keyword_arguments_only() -> None:
    with pytest.raises(TypeError):
        services.garage_create(None, "Garage", "Paris")  # type: ignore[misc]


def test_car_create_normalises_the_plate(garage_data: dict[str, Any]) -> None:
    car = services.car_create(
        actor=garage_data["staff"],
        make=" Kia ",
        model="Ceed",
        plate="  ab  12 cd ",
        year=2020,
        garage_id=garage_data["garages"][0].pk,
    )

    assert (car.make, car.plate) == ("Kia", "AB 12 CD")


def test_a_car_with_an_invalid_key_colour_is_not_created_at_all(garage_data: dict[str, Any]) -> None:
    with pytest.raises(Invalid) as raised:
        services.car_create(
            actor=garage_data["staff"],
            make="Kia",
            model="Ceed",
            plate="KI-001-AA",
            year=2020,
            garage_id=garage_data["garages"][0].pk,
            key_colour="",
        )

    assert "colour" in raised.value.fields
    assert not Car.objects.filter(plate="KI-001-AA").exists()


def test_invalid_fields_are_reported_together(staff_user: Any) -> None:
    with pytest.raises(Invalid) as raised:
        services.car_create(actor=staff_user, make="", model="", plate="??", year=1500, garage_id=1)

    assert set(raised.value.fields) == {"make", "model", "plate", "year", "garage_id"}
    assert raised.value.status == 422


def test_uniqueness_alone_is_a_conflict(garage_data: dict[str, Any]) -> None:
    with pytest.raises(Conflict) as raised:
        services.garage_create(actor=garage_data["staff"], name="Garage de Paris", city="Lyon")

    assert list(raised.value.fields) == ["name"] and raised.value.status == 409
    assert Garage.objects.filter(name="Garage de Paris").count() == 1


def test_update_of_an_unknown_row_is_not_found(staff_user: Any) -> None:
    with pytest.raises(NotFound, match="car 404 not found"):
        services.car_update(actor=staff_user, car_id=404, changes={"year": 2000})


def test_update_that_fails_validation_changes_nothing(garage_data: dict[str, Any]) -> None:
    clio = garage_data["cars"][0]

    with pytest.raises(Invalid):
        services.car_update(
            actor=garage_data["staff"], car_id=clio.pk, changes={"year": 3000, "model": "Clio II"}
        )

    clio.refresh_from_db()
    assert (clio.year, clio.model) == (2019, "Clio")


def test_key_delete_refuses_a_lent_key(garage_data: dict[str, Any]) -> None:
    with pytest.raises(Conflict):
        services.key_delete(actor=garage_data["staff"], key_id=garage_data["keys"][1].pk)

    assert Key.objects.filter(pk=garage_data["keys"][1].pk).exists()


def test_lend_and_return_record_dates(garage_data: dict[str, Any]) -> None:
    key, bob = garage_data["keys"][0], garage_data["users"][1]

    loan = services.key_lend(actor=bob, key_id=key.pk)
    returned = services.key_return(actor=bob, key_id=key.pk)

    assert returned.pk == loan.pk
    assert returned.returned_at is not None and returned.returned_at >= loan.lent_at
