"""garage.permissions, through the services that ask it: the decision is the same whoever calls."""

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser

from garage import services
from garage.errors import Forbidden, NotAuthenticated
from garage.models import Garage, Loan

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("actor", [None, AnonymousUser()], ids=["nobody", "anonymous"])
def test_nobody_writes(garage_data: dict[str, Any], actor: Any) -> None:
    key = garage_data["keys"][0]

    with pytest.raises(NotAuthenticated) as raised:
        services.garage_create(actor=actor, name="Anonyme", city="Paris")
    assert raised.value.status == 401
    with pytest.raises(NotAuthenticated):
        services.key_lend(actor=actor, key_id=key.pk)
    with pytest.raises(NotAuthenticated):
        services.key_return(actor=actor, key_id=garage_data["keys"][1].pk)

    assert not Garage.objects.filter(name="Anonyme").exists()


def test_an_inactive_account_is_nobody(garage_data: dict[str, Any]) -> None:
    staff = garage_data["staff"]
    staff.is_active = False

    with pytest.raises(NotAuthenticated):
        services.garage_create(actor=staff, name="Ancien", city="Paris")


def test_users_who_are_not_staff_manage_nothing(garage_data: dict[str, Any]) -> None:
    alice = garage_data["users"][0]
    clio = garage_data["cars"][0]

    for write in (
        lambda: services.garage_create(actor=alice, name="A", city="B"),
        lambda: services.garage_delete(actor=alice, garage_id=garage_data["garages"][1].pk),
        lambda: services.car_update(actor=alice, car_id=clio.pk, changes={"year": 2000}),
        lambda: services.car_delete(actor=alice, car_id=clio.pk),
        lambda: services.key_update(actor=alice, key_id=clio.key.pk, changes={"colour": "or"}),
        lambda: services.key_delete(actor=alice, key_id=clio.key.pk),
    ):
        with pytest.raises(Forbidden) as raised:
            write()
        assert raised.value.status == 403


def test_lending_to_oneself_or_by_staff(garage_data: dict[str, Any]) -> None:
    alice, bob = garage_data["users"]
    clio_key, c3_key = garage_data["keys"][0], garage_data["keys"][2]

    assert services.key_lend(actor=bob, key_id=clio_key.pk).borrower == bob
    assert services.key_lend(actor=bob, key_id=c3_key.pk, username="bob").borrower == bob
    with pytest.raises(Forbidden):
        services.key_lend(actor=alice, key_id=c3_key.pk, user_id=bob.pk)
    services.key_return(actor=garage_data["staff"], key_id=c3_key.pk)
    assert services.key_lend(actor=garage_data["staff"], key_id=c3_key.pk, user_id=alice.pk).borrower == alice


def test_returning_ones_own_loans_only(garage_data: dict[str, Any]) -> None:
    alice, bob = garage_data["users"]
    zoe_key = garage_data["keys"][1]  # lent to alice

    with pytest.raises(Forbidden):
        services.key_return(actor=bob, key_id=zoe_key.pk)
    assert Loan.objects.filter(key=zoe_key, returned_at__isnull=True).exists()

    assert services.key_return(actor=alice, key_id=zoe_key.pk).returned_at is not None
