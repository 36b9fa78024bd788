"""Bad requests get a clear JSON error and leave the database exactly as it was."""

from collections.abc import Iterator
from typing import Any

import pytest

from garage.models import Car, Garage, Key, Loan

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(staff_api: Any) -> Any:
    """These tests write as staff; who may write what is tested in tests/api/test_permissions.py."""
    return staff_api


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    return {
        "garages": list(Garage.objects.order_by("id").values_list("id", "name", "city", "address")),
        "cars": list(
            Car.objects.order_by("id").values_list("id", "make", "model", "plate", "year", "garage_id")
        ),
        "keys": list(Key.objects.order_by("id").values_list("id", "car_id", "colour")),
        "loans": list(Loan.objects.order_by("id").values_list("id", "key_id", "borrower_id", "returned_at")),
    }


@pytest.fixture
def unchanged(garage_data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Fails the test if the database changed."""
    before = snapshot()
    yield garage_data
    assert snapshot() == before


def assert_json_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"message", "fields"} and isinstance(body["message"], str) and body["message"]
    return body


def valid_car(garage_id: int) -> dict[str, Any]:
    return {"make": "Dacia", "model": "Sandero", "plate": "DA-123-CI", "year": 2020, "garage_id": garage_id}


@pytest.mark.parametrize("raw", ['{"make": "Dacia",', "not json", "[1, 2", '{"make": }'])
def test_malformed_json_is_400(api: Any, unchanged: dict[str, Any], raw: str) -> None:
    body = assert_json_error(api.request("POST", "/api/cars", raw=raw), 400)

    assert body["message"] == "malformed JSON body"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("year", "2020"),
        ("year", "deux mille"),
        ("year", 2020.5),
        ("year", True),
        ("garage_id", [1]),
        ("make", 42),
        ("plate", None),
    ],
)
def test_wrong_json_types_are_422_naming_the_field(
    api: Any, unchanged: dict[str, Any], field: str, value: Any
) -> None:
    car = valid_car(unchanged["garages"][0].pk) | {field: value}

    body = assert_json_error(api.post("/api/cars", car), 422)

    assert list(body["fields"]) == [field]


def test_unknown_fields_are_rejected(api: Any, unchanged: dict[str, Any]) -> None:
    car = valid_car(unchanged["garages"][0].pk) | {"colour": "pink", "id": 5}

    body = assert_json_error(api.post("/api/cars", car), 422)

    assert set(body["fields"]) == {"colour", "id"}


def test_missing_fields_are_422(api: Any, unchanged: dict[str, Any]) -> None:
    body = assert_json_error(api.post("/api/cars", {"make": "Dacia"}), 422)

    assert set(body["fields"]) == {"model", "plate", "year", "garage_id"}


def test_a_body_that_is_not_an_object_is_422(api: Any, unchanged: dict[str, Any]) -> None:
    assert_json_error(api.post("/api/garages", [1, 2, 3]), 422)


@pytest.mark.parametrize(
    ("field", "value"), [("year", 1700), ("plate", "!!"), ("make", ""), ("make", "x" * 51)]
)
def test_out_of_range_values_are_422(api: Any, unchanged: dict[str, Any], field: str, value: Any) -> None:
    car = valid_car(unchanged["garages"][0].pk) | {field: value}

    body = assert_json_error(api.post("/api/cars", car), 422)

    assert field in body["fields"]


def test_text_postgresql_cannot_store_is_422_not_500(api: Any, unchanged: dict[str, Any]) -> None:
    body = assert_json_error(api.post("/api/garages", {"name": "nul\x00byte", "city": "Paris"}), 422)

    assert "name" in body["fields"]


def test_an_unknown_garage_in_the_body_is_422_on_that_field(api: Any, unchanged: dict[str, Any]) -> None:
    body = assert_json_error(api.post("/api/cars", valid_car(424242)), 422)

    assert list(body["fields"]) == ["garage_id"]


def test_a_duplicate_plate_is_409_on_that_field(api: Any, unchanged: dict[str, Any]) -> None:
    car = valid_car(unchanged["garages"][0].pk) | {"plate": "aa-001-aa"}

    body = assert_json_error(api.post("/api/cars", car), 409)

    assert list(body["fields"]) == ["plate"]


@pytest.mark.parametrize("query", ["page_size=101", "page_size=0", "page=0", "page=abc", "page_size=1000000"])
def test_page_parameters_out_of_range_are_422_not_clamped(
    api: Any, unchanged: dict[str, Any], query: str
) -> None:
    body = assert_json_error(api.get(f"/api/cars?{query}"), 422)

    assert list(body["fields"]) == [query.split("=")[0]]


def test_page_size_100_is_the_maximum_allowed(api: Any, unchanged: dict[str, Any]) -> None:
    response = api.get("/api/cars?page_size=100")

    assert response.status_code == 200 and response.json()["page_size"] == 100


def test_a_body_over_the_limit_is_413(api: Any, unchanged: dict[str, Any], settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    car = valid_car(unchanged["garages"][0].pk) | {"model": "x" * 4000}

    body = assert_json_error(api.post("/api/cars", car), 413)

    assert body["message"] == "request body larger than 2048 bytes"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/cars/999999"),
        ("GET", "/api/garages/999999"),
        ("GET", "/api/keys/999999"),
        ("PATCH", "/api/cars/999999"),
        ("DELETE", "/api/garages/999999"),
        ("POST", "/api/keys/999999/return"),
    ],
)
def test_unknown_ids_are_404(api: Any, unchanged: dict[str, Any], method: str, path: str) -> None:
    response = api.request(method, path, {} if method == "PATCH" else None)

    body = assert_json_error(response, 404)
    assert body["message"].endswith("999999 not found")


@pytest.mark.parametrize(
    "path", ["/api/cars/0", "/api/cars/-1", "/api/cars/99999999999999999999", "/api/cars/abc"]
)
def test_ids_that_cannot_exist_are_4xx_json(api: Any, unchanged: dict[str, Any], path: str) -> None:
    response = api.get(path)

    assert response.status_code in (404, 422)
    assert_json_error(response, response.status_code)


def test_unknown_api_path_is_json_404(api: Any, unchanged: dict[str, Any]) -> None:
    assert_json_error(api.get("/api/nope"), 404)


def test_wrong_method_is_json_405(api: Any, unchanged: dict[str, Any]) -> None:
    body = assert_json_error(api.request("PUT", "/api/stats", {}), 405)

    assert body["message"] == "method not allowed"


def test_validation_messages_are_in_english_on_the_api(api: Any, unchanged: dict[str, Any]) -> None:
    body = assert_json_error(api.post("/api/garages", {"name": " ", "city": "Paris"}), 422)

    assert body["fields"] == {"name": ["This field cannot be blank."]}


class CountingStream:
    """A request body that counts what was read of it."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        size = self.left if size is None or size < 0 else min(size, self.left)
        self.left -= size
        self.read_bytes += size
        return b"x" * size


@pytest.mark.parametrize(("length", "drained"), [(200_000, 200_000), (150 * 1024 * 1024, 0)])
def test_a_refused_body_is_drained_only_when_small(rf: Any, settings: Any, length: int, drained: int) -> None:
    # Drained: the connection then closes without a reset that a proxy could turn into a 502.
    from kubedefis_site.middleware import BodySizeLimitMiddleware

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    request = rf.post("/api/cars", data=b"", content_type="application/json")
    request.META["CONTENT_LENGTH"] = str(length)
    request._stream = stream = CountingStream(length)

    response = BodySizeLimitMiddleware(lambda r: pytest.fail("the view must not run"))(request)

    assert response.status_code == 413 and stream.read_bytes == drained
