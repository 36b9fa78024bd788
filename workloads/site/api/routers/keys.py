from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Path, Query, Router, Status

from api.schemas import MAX_ID, ErrorOut, KeyDetailOut, KeyIn, KeyPage, KeyPatch, KeyQuery, LendIn
from garage import selectors, services
from kubedefis_site.response_cache import cached_json

router = Router(tags=["keys"])
READ_ERRORS: dict[int, Any] = {404: ErrorOut, 422: ErrorOut, 503: ErrorOut}
WRITE_ERRORS: dict[int, Any] = {400: ErrorOut, 409: ErrorOut, 413: ErrorOut, **READ_ERRORS}
KeyId = Path[int, {"ge": 1, "le": MAX_ID}]


@router.get("", response={200: KeyPage, 422: ErrorOut, 503: ErrorOut})
def list_keys(request: HttpRequest, query: Query[KeyQuery]) -> HttpResponse:
    return cached_json(
        request,
        "api-keys",
        lambda: selectors.key_page(page=query.page, page_size=query.page_size, lent=query.lent),
    )


@router.post("", response={201: KeyDetailOut, **WRITE_ERRORS})
def create_key(request: HttpRequest, payload: KeyIn) -> Status[dict[str, Any]]:
    key = services.key_create(**payload.model_dump())
    return Status(201, selectors.key_detail(key_id=key.pk))


@router.get("/{key_id}", response={200: KeyDetailOut, **READ_ERRORS})
def get_key(request: HttpRequest, key_id: KeyId) -> dict[str, Any]:
    return selectors.key_detail(key_id=key_id)


@router.put("/{key_id}", response={200: KeyDetailOut, **WRITE_ERRORS})
def replace_key(request: HttpRequest, key_id: KeyId, payload: KeyPatch) -> dict[str, Any]:
    services.key_update(key_id=key_id, changes=payload.model_dump())
    return selectors.key_detail(key_id=key_id)


@router.patch("/{key_id}", response={200: KeyDetailOut, **WRITE_ERRORS})
def update_key(request: HttpRequest, key_id: KeyId, payload: KeyPatch) -> dict[str, Any]:
    services.key_update(key_id=key_id, changes=payload.model_dump(exclude_unset=True))
    return selectors.key_detail(key_id=key_id)


@router.delete("/{key_id}", response={204: None, **WRITE_ERRORS})
def delete_key(request: HttpRequest, key_id: KeyId) -> Status[None]:
    services.key_delete(key_id=key_id)
    return Status(204, None)


@router.post("/{key_id}/lend", response={200: KeyDetailOut, **WRITE_ERRORS})
def lend_key(request: HttpRequest, key_id: KeyId, payload: LendIn) -> dict[str, Any]:
    """Lend the key to one user (by `user_id` or `username`); 409 when it is already lent."""
    services.key_lend(key_id=key_id, **payload.model_dump())
    return selectors.key_detail(key_id=key_id)


@router.post("/{key_id}/return", response={200: KeyDetailOut, **WRITE_ERRORS})
def return_key(request: HttpRequest, key_id: KeyId) -> dict[str, Any]:
    """Give the key back; 409 when it is not lent."""
    services.key_return(key_id=key_id)
    return selectors.key_detail(key_id=key_id)
