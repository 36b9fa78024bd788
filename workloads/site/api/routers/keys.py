from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Path, Query, Router, Status

from api.auth import WRITE_AUTH
from api.schemas import MAX_ID, ErrorOut, KeyDetailOut, KeyIn, KeyPage, KeyPatch, KeyQuery, LendIn
from garage import selectors, services
from kubedefis_site.response_cache import cached_json

router = Router(tags=["keys"])
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
KeyId = Path[int, {"ge": 1, "le": MAX_ID}]


@router.get("", response={200: KeyPage, 422: ErrorOut, 503: ErrorOut})
def list_keys(request: HttpRequest, query: Query[KeyQuery]) -> HttpResponse:
    return cached_json(
        request,
        "api-keys",
        lambda: selectors.key_page(page=query.page, page_size=query.page_size, lent=query.lent),
    )


@router.post("", auth=WRITE_AUTH, response={201: KeyDetailOut, **WRITE_ERRORS})
def create_key(request: HttpRequest, payload: KeyIn) -> Status[dict[str, Any]]:
    key = services.key_create(actor=request.auth, **payload.model_dump())
    return Status(201, selectors.key_detail(key_id=key.pk))


@router.get("/{key_id}", response={200: KeyDetailOut, **READ_ERRORS})
def get_key(request: HttpRequest, key_id: KeyId) -> dict[str, Any]:
    return selectors.key_detail(key_id=key_id)


@router.put("/{key_id}", auth=WRITE_AUTH, response={200: KeyDetailOut, **WRITE_ERRORS})
def replace_key(request: HttpRequest, key_id: KeyId, payload: KeyPatch) -> dict[str, Any]:
    services.key_update(actor=request.auth, key_id=key_id, changes=payload.model_dump())
    return selectors.key_detail(key_id=key_id)


@router.patch("/{key_id}", auth=WRITE_AUTH, response={200: KeyDetailOut, **WRITE_ERRORS})
def update_key(request: HttpRequest, key_id: KeyId, payload: KeyPatch) -> dict[str, Any]:
    services.key_update(actor=request.auth, key_id=key_id, changes=payload.model_dump(exclude_unset=True))
    return selectors.key_detail(key_id=key_id)


@router.delete("/{key_id}", auth=WRITE_AUTH, response={204: None, **WRITE_ERRORS})
def delete_key(request: HttpRequest, key_id: KeyId) -> Status[None]:
    services.key_delete(actor=request.auth, key_id=key_id)
    return Status(204, None)


@router.post("/{key_id}/lend", auth=WRITE_AUTH, response={200: KeyDetailOut, **WRITE_ERRORS})
def lend_key(request: HttpRequest, key_id: KeyId, payload: LendIn) -> dict[str, Any]:
    """Lend the key: to yourself (`{}`), or, staff only, to another user (`user_id` or `username`).

    409 when it is already lent."""
    services.key_lend(actor=request.auth, key_id=key_id, **payload.model_dump())
    return selectors.key_detail(key_id=key_id)


@router.post("/{key_id}/return", auth=WRITE_AUTH, response={200: KeyDetailOut, **WRITE_ERRORS})
def return_key(request: HttpRequest, key_id: KeyId) -> dict[str, Any]:
    """Give the key back: your own loan, or, staff, any; 409 when it is not lent."""
    services.key_return(actor=request.auth, key_id=key_id)
    return selectors.key_detail(key_id=key_id)
