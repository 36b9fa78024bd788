from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Path, Query, Router, Status

from api.auth import WRITE_AUTH
from api.schemas import MAX_ID, ErrorOut, GarageIn, GarageOut, GaragePage, GaragePatch, PageQuery
from garage import selectors, services
from kubedefis_site.response_cache import cached_json

router = Router(tags=["garages"])
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
GarageId = Path[int, {"ge": 1, "le": MAX_ID}]


@router.get("", response={200: GaragePage, 422: ErrorOut, 503: ErrorOut})
def list_garages(request: HttpRequest, query: Query[PageQuery]) -> HttpResponse:
    return cached_json(
        request, "api-garages", lambda: selectors.garage_page(page=query.page, page_size=query.page_size)
    )


@router.post("", auth=WRITE_AUTH, response={201: GarageOut, **WRITE_ERRORS})
def create_garage(request: HttpRequest, payload: GarageIn) -> Status[dict[str, Any]]:
    garage = services.garage_create(actor=request.auth, **payload.model_dump())
    return Status(201, selectors.garage_detail(garage_id=garage.pk))


@router.get("/{garage_id}", response={200: GarageOut, **READ_ERRORS})
def get_garage(request: HttpRequest, garage_id: GarageId) -> dict[str, Any]:
    return selectors.garage_detail(garage_id=garage_id)


@router.put("/{garage_id}", auth=WRITE_AUTH, response={200: GarageOut, **WRITE_ERRORS})
def replace_garage(request: HttpRequest, garage_id: GarageId, payload: GarageIn) -> dict[str, Any]:
    services.garage_update(actor=request.auth, garage_id=garage_id, changes=payload.model_dump())
    return selectors.garage_detail(garage_id=garage_id)


@router.patch("/{garage_id}", auth=WRITE_AUTH, response={200: GarageOut, **WRITE_ERRORS})
def update_garage(request: HttpRequest, garage_id: GarageId, payload: GaragePatch) -> dict[str, Any]:
    services.garage_update(
        actor=request.auth, garage_id=garage_id, changes=payload.model_dump(exclude_unset=True)
    )
    return selectors.garage_detail(garage_id=garage_id)


@router.delete("/{garage_id}", auth=WRITE_AUTH, response={204: None, **WRITE_ERRORS})
def delete_garage(request: HttpRequest, garage_id: GarageId) -> Status[None]:
    services.garage_delete(actor=request.auth, garage_id=garage_id)
    return Status(204, None)
