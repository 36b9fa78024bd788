"""Server-rendered pages. Thin: read through garage.selectors, write through garage.services."""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import user_passes_test
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from garage import selectors, services
from garage.errors import ApplicationError, NotFound
from kubedefis_site.response_cache import cached_page
from public.forms import LendForm

# The naive profile (défi 17) lists every row on one page, as the course reference site does.
PAGE_SIZE: int | None = None if settings.NAIVE else 20
MAX_PAGE = 1_000_000

staff_required = user_passes_test(lambda user: user.is_active and user.is_staff)


def _page_number(request: HttpRequest) -> int:
    try:
        return min(max(int(request.GET.get("page", "1")), 1), MAX_PAGE)
    except ValueError:
        return 1


def _detail(read: Callable[..., dict[str, Any]], **kwargs: int) -> dict[str, Any]:
    try:
        return read(**kwargs)
    except NotFound as exc:
        raise Http404(exc.message) from None


@require_GET
@cached_page("home")
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "public/home.html", selectors.dashboard())


@require_GET
@cached_page("whats-new")
def whats_new(request: HttpRequest) -> HttpResponse:
    """Défi 8: the page of version v2, the newest cars and what changed."""
    return render(request, "public/whats_new.html", {"newest_cars": selectors.newest_cars(limit=5)})


@require_GET
@cached_page("garages")
def garage_list(request: HttpRequest) -> HttpResponse:
    page = selectors.garage_page(page=_page_number(request), page_size=PAGE_SIZE)
    return render(request, "public/garage_list.html", {"page": page})


@require_GET
@cached_page("garage")
def garage_detail(request: HttpRequest, garage_id: int) -> HttpResponse:
    garage = _detail(selectors.garage_detail, garage_id=garage_id)
    cars = selectors.car_page(page=_page_number(request), page_size=PAGE_SIZE, garage_id=garage_id)
    return render(request, "public/garage_detail.html", {"garage": garage, "page": cars})


@require_GET
@cached_page("cars")
def car_list(request: HttpRequest) -> HttpResponse:
    page = selectors.car_page(page=_page_number(request), page_size=PAGE_SIZE)
    return render(request, "public/car_list.html", {"page": page})


@require_GET
@cached_page("car")
def car_detail(request: HttpRequest, car_id: int) -> HttpResponse:
    car = _detail(selectors.car_detail, car_id=car_id)
    key = _detail(selectors.key_detail, key_id=car["key_id"]) if car["key_id"] else None
    return render(request, "public/car_detail.html", {"car": car, "key": key})


@require_GET
@cached_page("keys")
def key_list(request: HttpRequest) -> HttpResponse:
    page = selectors.key_page(page=_page_number(request), page_size=PAGE_SIZE)
    return render(request, "public/key_list.html", {"page": page})


@require_GET
@cached_page("key")
def key_detail(request: HttpRequest, key_id: int) -> HttpResponse:
    key = _detail(selectors.key_detail, key_id=key_id)
    return render(request, "public/key_detail.html", {"key": key})


@staff_required
@require_http_methods(["GET", "POST"])
def key_lend(request: HttpRequest, key_id: int) -> HttpResponse:
    key = _detail(selectors.key_detail, key_id=key_id)
    form = LendForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.key_lend(actor=request.user, key_id=key_id, user_id=form.cleaned_data["user"].pk)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
                status = exc.status
            else:
                messages.success(request, f"Clé prêtée à {form.cleaned_data['user'].get_username()}.")
                return redirect("public:key_detail", key_id=key_id)
        else:
            status = 422
    return render(request, "public/key_lend.html", {"key": key, "form": form}, status=status)


@staff_required
@require_http_methods(["GET", "POST"])
def key_return(request: HttpRequest, key_id: int) -> HttpResponse:
    key = _detail(selectors.key_detail, key_id=key_id)
    error, status = None, 200
    if request.method == "POST":
        try:
            services.key_return(actor=request.user, key_id=key_id)
        except ApplicationError as exc:
            error, status = exc.message, exc.status
        else:
            messages.success(request, "Clé rendue.")
            return redirect("public:key_detail", key_id=key_id)
    return render(request, "public/key_return.html", {"key": key, "error": error}, status=status)
