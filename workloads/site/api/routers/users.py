from django.http import HttpRequest
from ninja import Query, Router

from api.schemas import ErrorOut, PageQuery, UserPage
from garage import selectors
from garage.pagination import Page

router = Router(tags=["users"])


@router.get("", response={200: UserPage, 422: ErrorOut, 503: ErrorOut})
def list_users(request: HttpRequest, query: Query[PageQuery]) -> Page:
    """Users keys can be lent to (read-only; manage them in the admin)."""
    return selectors.user_page(page=query.page, page_size=query.page_size)
