from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Path, Query, Router, Status

from api.auth import WRITE_AUTH
from api.schemas import MAX_ID, CarFields, CarIn, CarOut, CarPage, CarPatch, CarQuery, ErrorOut
from garage import selectors, services
from garage.schema_stage import given_brand
from kubedefis_site.response_cache import cached_json

router = Router(tags=["cars"])
READ_ERRORS: dict[int, Any] = {404: ErrorOut, 422: ErrorOut, 503: ErrorOut}
# Writes: a caller with credentials (api/auth.py), 401 without, 403 when not theirs to do.
WRITE_ERRORS: dict[int, Any] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    409: ErrorOut,
    413: ErrorOut,
    **READ_ERRORS,
}
CarId = Path[int, {"ge": 1, "le": MAX_ID}]


@router.get("", response={200: CarPage, 422: ErrorOut, 503: ErrorOut})
def list_cars(request: HttpRequest, query: Query[CarQuery]) -> HttpResponse:
    return cached_json(
        request,
        "api-cars",
        lambda: selectors.car_page(page=query.page, page_size=query.page_size, garage_id=query.garage_id),
    )


@router.post("", auth=WRITE_AUTH, response={201: CarOut, **WRITE_ERRORS})
def create_car(request: HttpRequest, payload: CarIn) -> Status[dict[str, Any]]:
    car = services.car_create(actor=request.auth, **given_brand(payload.model_dump()))
    return Status(201, selectors.car_detail(car_id=car.pk))


@router.get("/{car_id}", response={200: CarOut, **READ_ERRORS})
def get_car(request: HttpRequest, car_id: CarId) -> dict[str, Any]:
    return selectors.car_detail(car_id=car_id)


@router.put("/{car_id}", auth=WRITE_AUTH, response={200: CarOut, **WRITE_ERRORS})
def replace_car(request: HttpRequest, car_id: CarId, payload: CarFields) -> dict[str, Any]:
    services.car_update(actor=request.auth, car_id=car_id, changes=given_brand(payload.model_dump()))
    return selectors.car_detail(car_id=car_id)


@router.patch("/{car_id}", auth=WRITE_AUTH, response={200: CarOut, **WRITE_ERRORS})
def update_car(request: HttpRequest, car_id: CarId, payload: CarPatch) -> dict[str, Any]:
    services.car_update(
        actor=request.auth, car_id=car_id, changes=given_brand(payload.model_dump(exclude_unset=True))
    )
    return selectors.car_detail(car_id=car_id)


@router.delete("/{car_id}", auth=WRITE_AUTH, response={204: None, **WRITE_ERRORS})
def delete_car(request: HttpRequest, car_id: CarId) -> Status[None]:
    services.car_delete(actor=request.auth, car_id=car_id)
    return Status(204, None)
