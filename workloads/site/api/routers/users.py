from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from api.auth import WRITE_AUTH
from api.schemas import ErrorOut, PageQuery, UserOut, UserPage
from garage import selectors
from garage.pagination import Page

router = Router(tags=["users"])


@router.get("", response={200: UserPage, 422: ErrorOut, 503: ErrorOut})
def list_users(request: HttpRequest, query: Query[PageQuery]) -> Page:
    """Users keys can be lent to (read-only; manage them in the admin)."""
    return selectors.user_page(page=query.page, page_size=query.page_size)


# The same credentials as writes.
@router.get("/me", auth=WRITE_AUTH, response={200: UserOut, 401: ErrorOut, 503: ErrorOut})
def who_am_i(request: HttpRequest) -> dict[str, Any]:
    """The caller, as the credentials sent name them (a way to check a token: 401 without one)."""
    return selectors.user_detail(user=request.auth)
