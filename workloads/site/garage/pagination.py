"""Offset pagination shared by the API and the pages: one COUNT plus one LIMIT/OFFSET query."""

from typing import Any, TypedDict

from django.db.models import QuerySet

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


class Page(TypedDict):
    count: int
    page: int
    page_size: int
    pages: int
    next: int | None
    previous: int | None
    results: list[dict[str, Any]]


def paginate(queryset: QuerySet[Any], *, page: int, page_size: int | None) -> Page:
    """A page past the end is empty (not an error): `count` tells the client where the data stops.

    page_size None is the naive profile's (défi 17) unpaginated list: every row, in one page.
    """
    count = queryset.count()
    if page_size is None:
        return {
            "count": count,
            "page": 1,
            "page_size": count,
            "pages": 1,
            "next": None,
            "previous": None,
            "results": list(queryset),
        }
    pages = max(1, -(-count // page_size))
    offset = (page - 1) * page_size
    results = list(queryset[offset : offset + page_size]) if offset < count else []
    return {
        "count": count,
        "page": page,
        "page_size": page_size,
        "pages": pages,
        "next": page + 1 if page < pages else None,
        "previous": page - 1 if page > 1 else None,
        "results": results,
    }
