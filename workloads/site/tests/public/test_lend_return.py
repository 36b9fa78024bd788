"""Lending and returning keys from the pages: staff only, one borrower at a time."""

from typing import Any

import pytest
from django.test import Client

from garage.models import Loan

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(make_user: Any) -> Client:
    client = Client()
    client.force_login(make_user("staff", is_staff=True))
    return client


def test_visitors_are_sent_to_sign_in(client: Client, garage_data: dict[str, Any]) -> None:
    key = garage_data["keys"][0]

    response = client.get(f"/cles/{key.pk}/preter/")

    assert (
        response.status_code == 302
        and response["Location"] == f"/accounts/login/?next=/cles/{key.pk}/preter/"
    )
    assert client.post(f"/cles/{key.pk}/preter/", {"user": garage_data["users"][1].pk}).status_code == 302
    assert not Loan.objects.filter(key=key).exists()


def test_non_staff_users_cannot_lend(make_user: Any, garage_data: dict[str, Any]) -> None:
    client = Client()
    client.force_login(garage_data["users"][1])

    response = client.post(f"/cles/{garage_data['keys'][0].pk}/preter/", {"user": garage_data["users"][1].pk})

    assert response.status_code == 302
    assert not Loan.objects.filter(key=garage_data["keys"][0]).exists()


def test_staff_lend_a_key_through_the_form(staff: Client, garage_data: dict[str, Any]) -> None:
    key, bob = garage_data["keys"][0], garage_data["users"][1]

    form = staff.get(f"/cles/{key.pk}/preter/")
    assert form.status_code == 200 and "bob" in form.content.decode()
    response = staff.post(f"/cles/{key.pk}/preter/", {"user": bob.pk}, follow=True)

    assert response.redirect_chain == [(f"/cles/{key.pk}/", 302)]
    assert "Clé prêtée à bob." in response.content.decode()
    assert Loan.objects.get(key=key, returned_at__isnull=True).borrower == bob


def test_lending_a_lent_key_through_the_form_is_refused(staff: Client, garage_data: dict[str, Any]) -> None:
    key, bob = garage_data["keys"][1], garage_data["users"][1]

    response = staff.post(f"/cles/{key.pk}/preter/", {"user": bob.pk})

    assert response.status_code == 409
    assert "already lent" in response.content.decode()
    assert list(Loan.objects.filter(key=key).values_list("borrower__username", flat=True)) == ["alice"]


def test_an_invalid_form_is_422(staff: Client, garage_data: dict[str, Any]) -> None:
    response = staff.post(f"/cles/{garage_data['keys'][0].pk}/preter/", {"user": "999999"})

    assert response.status_code == 422
    assert not Loan.objects.filter(key=garage_data["keys"][0]).exists()


def test_staff_return_a_key(staff: Client, garage_data: dict[str, Any]) -> None:
    key = garage_data["keys"][1]

    assert "Confirmer le retour" in staff.get(f"/cles/{key.pk}/rendre/").content.decode()
    response = staff.post(f"/cles/{key.pk}/rendre/")

    assert response.status_code == 302
    assert not Loan.objects.filter(key=key, returned_at__isnull=True).exists()
    assert staff.post(f"/cles/{key.pk}/rendre/").status_code == 409


def test_forms_are_protected_against_csrf(make_user: Any, garage_data: dict[str, Any]) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("staff", is_staff=True))

    response = client.post(f"/cles/{garage_data['keys'][0].pk}/preter/", {"user": garage_data["users"][1].pk})

    assert response.status_code == 403
    assert not Loan.objects.filter(key=garage_data["keys"][0]).exists()
