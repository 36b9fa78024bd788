"""Who may write what through the API: anonymous 401, the wrong user 403, the right user 2xx.

Every case that is refused also leaves the database as it was.
"""

from collections.abc import Callable
from typing import Any

import pytest

from garage.models import Car, Garage, Key, Loan

pytestmark = pytest.mark.django_db


def snapshot() -> tuple[list[Any], ...]:
    return (
        list(Garage.objects.order_by("id").values_list("id", "name", "city", "address")),
        list(Car.objects.order_by("id").values_list("id", "make", "model", "plate", "year", "garage_id")),
        list(Key.objects.order_by("id").values_list("id", "car_id", "colour")),
        list(Loan.objects.order_by("id").values_list("id", "key_id", "borrower_id", "returned_at")),
    )


# Staff-only writes: (method, path, body), formatted with the ids of garage_data.
STAFF_WRITES = [
    ("POST", "/api/garages", {"name": "Garage du Port", "city": "Brest"}),
    ("PUT", "/api/garages/{evry}", {"name": "Évry 2", "city": "Évry"}),
    ("PATCH", "/api/garages/{evry}", {"city": "Courcouronnes"}),
    ("DELETE", "/api/garages/{empty_garage}", None),
    (
        "POST",
        "/api/cars",
        {"make": "Dacia", "model": "Spring", "plate": "DS-001-AA", "year": 2023, "garage_id": "{evry}"},
    ),
    (
        "PUT",
        "/api/cars/{clio}",
        {"make": "Renault", "model": "Clio", "plate": "AA-001-AA", "year": 2020, "garage_id": "{evry}"},
    ),
    ("PATCH", "/api/cars/{clio}", {"year": 2018}),
    ("DELETE", "/api/cars/{clio}", None),
    ("POST", "/api/keys", {"car_id": "{keyless_car}", "colour": "noir"}),
    ("PUT", "/api/keys/{clio_key}", {"colour": "rose"}),
    ("PATCH", "/api/keys/{clio_key}", {"colour": "rose"}),
    ("DELETE", "/api/keys/{clio_key}", None),
]
STAFF_WRITE_IDS = [f"{method} {path}" for method, path, _body in STAFF_WRITES]


@pytest.fixture
def ids(garage_data: dict[str, Any]) -> dict[str, int]:
    paris, evry = garage_data["garages"]
    clio = garage_data["cars"][0]
    empty = Garage.objects.create(name="Vide", city="Sens")
    keyless = Car.objects.create(make="Fiat", model="Panda", plate="FP-001-AA", year=2010, garage=paris)
    return {
        "evry": evry.pk,
        "empty_garage": empty.pk,
        "clio": clio.pk,
        "clio_key": clio.key.pk,
        "keyless_car": keyless.pk,
    }


def formatted(value: Any, ids: dict[str, int]) -> Any:
    if isinstance(value, dict):
        return {field: formatted(item, ids) for field, item in value.items()}
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in ids:
        return ids[value[1:-1]]
    return value.format(**ids) if isinstance(value, str) else value


@pytest.fixture
def as_alice(api_as: Callable[[Any], Any], garage_data: dict[str, Any]) -> Any:
    return api_as(garage_data["users"][0])


@pytest.fixture
def as_bob(api_as: Callable[[Any], Any], garage_data: dict[str, Any]) -> Any:
    return api_as(garage_data["users"][1])


# Garages, cars and keys: staff only.


@pytest.mark.parametrize(("method", "path", "body"), STAFF_WRITES, ids=STAFF_WRITE_IDS)
def test_anonymous_writes_are_401(api: Any, ids: dict[str, int], method: str, path: str, body: Any) -> None:
    before = snapshot()

    response = api.request(method, formatted(path, ids), formatted(body, ids))

    assert response.status_code == 401, response.content
    assert response.json() == {"message": "authentication required", "fields": {}}
    assert response["WWW-Authenticate"] == 'Bearer realm="kubedefis"'
    assert snapshot() == before


@pytest.mark.parametrize(("method", "path", "body"), STAFF_WRITES, ids=STAFF_WRITE_IDS)
def test_a_user_who_is_not_staff_gets_403(
    as_alice: Any, ids: dict[str, int], method: str, path: str, body: Any
) -> None:
    before = snapshot()

    response = as_alice.request(method, formatted(path, ids), formatted(body, ids))

    assert response.status_code == 403, response.content
    assert response.json()["message"].startswith("only staff may ")
    assert snapshot() == before


@pytest.mark.parametrize(("method", "path", "body"), STAFF_WRITES, ids=STAFF_WRITE_IDS)
def test_staff_may_manage_garages_cars_and_keys(
    staff_api: Any, ids: dict[str, int], method: str, path: str, body: Any
) -> None:
    response = staff_api.request(method, formatted(path, ids), formatted(body, ids))

    assert response.status_code in (200, 201, 204), response.content


def test_staff_only_is_checked_before_the_row_is_looked_up(
    as_alice: Any, garage_data: dict[str, Any]
) -> None:
    # A 404 would tell a user who may not edit anything which ids exist.
    assert as_alice.patch("/api/cars/987654", {"year": 2000}).status_code == 403


# Lending: a user lends to themselves; staff lend to anyone.


def test_anonymous_lend_and_return_are_401(api: Any, garage_data: dict[str, Any]) -> None:
    before = snapshot()
    clio_key, zoe_key = garage_data["keys"][0], garage_data["keys"][1]

    assert api.post(f"/api/keys/{clio_key.pk}/lend", {"username": "bob"}).status_code == 401
    assert api.post(f"/api/keys/{clio_key.pk}/lend", {}).status_code == 401
    assert api.post(f"/api/keys/{zoe_key.pk}/return").status_code == 401
    assert snapshot() == before


@pytest.mark.parametrize("body", [{}, {"username": "bob"}, {"user_id": "bob"}])
def test_a_user_lends_a_key_to_themselves(as_bob: Any, garage_data: dict[str, Any], body: Any) -> None:
    bob = garage_data["users"][1]
    body = {"user_id": bob.pk} if body == {"user_id": "bob"} else body

    response = as_bob.post(f"/api/keys/{garage_data['keys'][0].pk}/lend", body)

    assert response.status_code == 200, response.content
    assert response.json()["borrower_username"] == "bob"


@pytest.mark.parametrize(
    ("body", "field"), [({"username": "alice"}, "username"), ({"user_id": "alice"}, "user_id")]
)
def test_a_user_may_not_lend_to_someone_else(
    as_bob: Any, garage_data: dict[str, Any], body: Any, field: str
) -> None:
    alice = garage_data["users"][0]
    body = {"user_id": alice.pk} if field == "user_id" else body
    before = snapshot()

    response = as_bob.post(f"/api/keys/{garage_data['keys'][0].pk}/lend", body)

    assert response.status_code == 403
    assert response.json() == {
        "message": "you may only lend a key to yourself",
        "fields": {field: ["only staff lend keys to other users"]},
    }
    assert snapshot() == before


def test_staff_lend_to_any_user(staff_api: Any, garage_data: dict[str, Any]) -> None:
    response = staff_api.post(f"/api/keys/{garage_data['keys'][0].pk}/lend", {"username": "bob"})

    assert response.status_code == 200 and response.json()["borrower_username"] == "bob"


# Returning: one's own loans; staff any.


def test_a_user_may_not_return_someone_elses_loan(as_bob: Any, garage_data: dict[str, Any]) -> None:
    zoe_key = garage_data["keys"][1]  # lent to alice
    before = snapshot()

    response = as_bob.post(f"/api/keys/{zoe_key.pk}/return")

    assert response.status_code == 403
    assert response.json() == {"message": "you may only return your own loans", "fields": {}}
    assert snapshot() == before


def test_a_user_returns_their_own_loan(as_alice: Any, garage_data: dict[str, Any]) -> None:
    response = as_alice.post(f"/api/keys/{garage_data['keys'][1].pk}/return")

    assert response.status_code == 200 and response.json()["lent"] is False


def test_staff_return_any_loan(staff_api: Any, garage_data: dict[str, Any]) -> None:
    response = staff_api.post(f"/api/keys/{garage_data['keys'][1].pk}/return")

    assert response.status_code == 200 and response.json()["lent"] is False


def test_a_user_lends_and_returns_in_turn(as_bob: Any, garage_data: dict[str, Any]) -> None:
    key = garage_data["keys"][2]

    for _ in range(3):
        assert as_bob.post(f"/api/keys/{key.pk}/lend", {}).status_code == 200
        assert as_bob.post(f"/api/keys/{key.pk}/return").status_code == 200

    assert Loan.objects.filter(key=key, borrower=garage_data["users"][1]).count() == 3


# Reads stay public.


@pytest.mark.parametrize(
    "path", ["/api/garages", "/api/cars", "/api/keys", "/api/users", "/api/stats", "/api/cars/{clio}"]
)
def test_reads_need_no_credentials(api: Any, ids: dict[str, int], path: str) -> None:
    assert api.get(path.format(**ids)).status_code == 200
