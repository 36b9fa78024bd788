"""Lending keys through the API: one borrower at a time, enforced by the database."""

from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from garage.models import Loan

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(staff_api: Any) -> Any:
    """These tests write as staff; who may write what is tested in tests/api/test_permissions.py."""
    return staff_api


def test_lend_an_available_key_to_a_user(api: Any, garage_data: dict[str, Any]) -> None:
    key = garage_data["keys"][0]
    bob = garage_data["users"][1]

    response = api.post(f"/api/keys/{key.pk}/lend", {"user_id": bob.pk})

    assert response.status_code == 200
    body = response.json()
    assert body["lent"] is True and body["borrower_id"] == bob.pk and body["borrower_username"] == "bob"
    assert body["lent_at"] is not None
    assert [loan["borrower_username"] for loan in body["loans"]] == ["bob"]
    assert Loan.objects.get(key=key, returned_at__isnull=True).borrower == bob


def test_lend_by_username(api: Any, garage_data: dict[str, Any]) -> None:
    key = garage_data["keys"][2]

    response = api.post(f"/api/keys/{key.pk}/lend", {"username": "bob"})

    assert response.status_code == 200 and response.json()["borrower_username"] == "bob"


def test_lending_a_lent_key_is_409_and_changes_nothing(api: Any, garage_data: dict[str, Any]) -> None:
    lent_key = garage_data["keys"][1]
    bob = garage_data["users"][1]
    loans_before = list(Loan.objects.values_list("id", "key_id", "borrower_id", "returned_at"))

    response = api.post(f"/api/keys/{lent_key.pk}/lend", {"user_id": bob.pk})

    assert response.status_code == 409
    assert response.json() == {"message": f"key {lent_key.pk} is already lent", "fields": {}}
    assert list(Loan.objects.values_list("id", "key_id", "borrower_id", "returned_at")) == loans_before


def test_return_then_lend_again(api: Any, garage_data: dict[str, Any]) -> None:
    key = garage_data["keys"][1]
    bob = garage_data["users"][1]

    returned = api.post(f"/api/keys/{key.pk}/return")
    assert returned.status_code == 200
    assert returned.json()["lent"] is False and returned.json()["loans"][0]["returned_at"] is not None

    again = api.post(f"/api/keys/{key.pk}/lend", {"user_id": bob.pk})
    assert again.status_code == 200
    assert [loan["borrower_username"] for loan in again.json()["loans"]] == ["bob", "alice"]
    assert Loan.objects.filter(key=key).count() == 2
    assert Loan.objects.filter(key=key, returned_at__isnull=True).count() == 1


def test_returning_a_key_that_is_not_lent_is_409(api: Any, garage_data: dict[str, Any]) -> None:
    key = garage_data["keys"][0]

    response = api.post(f"/api/keys/{key.pk}/return")

    assert response.status_code == 409
    assert response.json()["message"] == f"key {key.pk} is not lent"
    assert not Loan.objects.filter(key=key).exists()


def test_lending_to_an_unknown_user_is_422(api: Any, garage_data: dict[str, Any]) -> None:
    key = garage_data["keys"][0]

    response = api.post(f"/api/keys/{key.pk}/lend", {"user_id": 999_999})

    assert response.status_code == 422
    assert response.json()["fields"] == {"user_id": ["no such user"]}
    assert not Loan.objects.filter(key=key).exists()


def test_lending_to_an_inactive_user_is_422(api: Any, garage_data: dict[str, Any], make_user: Any) -> None:
    gone = make_user("gone", is_active=False)

    response = api.post(f"/api/keys/{garage_data['keys'][0].pk}/lend", {"user_id": gone.pk})

    assert response.status_code == 422


def test_lend_takes_at_most_one_user_reference(api: Any, garage_data: dict[str, Any]) -> None:
    response = api.post(f"/api/keys/{garage_data['keys'][0].pk}/lend", {"user_id": 1, "username": "bob"})

    assert response.status_code == 422
    assert response.json()["message"] == "invalid input"
    assert not Loan.objects.filter(key=garage_data["keys"][0]).exists()


@pytest.mark.parametrize("body", [{}, {"user_id": None}])
def test_lend_without_a_user_lends_to_the_caller(
    api: Any, garage_data: dict[str, Any], body: dict[str, Any]
) -> None:
    response = api.post(f"/api/keys/{garage_data['keys'][0].pk}/lend", body)

    assert response.status_code == 200 and response.json()["borrower_username"] == "manager"


def test_lending_an_unknown_key_is_404(api: Any, garage_data: dict[str, Any]) -> None:
    response = api.post("/api/keys/987654/lend", {"user_id": garage_data["users"][0].pk})

    assert response.status_code == 404
    assert response.json() == {"message": "key 987654 not found", "fields": {}}


def test_the_database_refuses_a_second_open_loan_even_without_the_service(
    garage_data: dict[str, Any],
) -> None:
    lent_key = garage_data["keys"][1]
    bob = garage_data["users"][1]

    with pytest.raises(IntegrityError, match="loan_one_open_per_key"), transaction.atomic():
        Loan.objects.create(key=lent_key, borrower=bob, lent_at=timezone.now())

    assert Loan.objects.filter(key=lent_key, returned_at__isnull=True).count() == 1


def test_the_database_allows_many_returned_loans_of_one_key(garage_data: dict[str, Any]) -> None:
    key = garage_data["keys"][0]
    bob = garage_data["users"][1]
    now = timezone.now()

    Loan.objects.bulk_create([Loan(key=key, borrower=bob, lent_at=now, returned_at=now) for _ in range(3)])

    assert Loan.objects.filter(key=key).count() == 3
