"""Cached lists and pages: hit/miss header, invalidation on every write, Redis down is only a miss."""

from typing import Any

import pytest
from django.core.cache import caches
from django.test import Client

from kubedefis_site.cache import ForgivingRedisCache
from kubedefis_site_testing.postgres import free_port

pytestmark = pytest.mark.django_db


def test_api_list_is_a_miss_then_a_hit(api: Any, garage_data: dict[str, Any]) -> None:
    first = api.get("/api/cars")
    second = api.get("/api/cars")

    assert first["X-Kubedefis-Cache"] == "miss" and second["X-Kubedefis-Cache"] == "hit"
    assert first.content == second.content


def test_a_hit_costs_one_query(api: Any, garage_data: dict[str, Any], django_assert_num_queries: Any) -> None:
    api.get("/api/keys")

    with django_assert_num_queries(1):
        assert api.get("/api/keys")["X-Kubedefis-Cache"] == "hit"


def test_query_string_is_part_of_the_key(api: Any, garage_data: dict[str, Any]) -> None:
    api.get("/api/cars?page_size=1")

    response = api.get("/api/cars?page_size=2")

    assert response["X-Kubedefis-Cache"] == "miss" and len(response.json()["results"]) == 2


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/keys/{key}/lend", {"username": "bob"}),
        ("patch", "/api/cars/{car}", {"year": 2001}),
        ("delete", "/api/cars/{car}", None),
        ("post", "/api/garages", {"name": "Neuf", "city": "Brest"}),
    ],
)
def test_every_write_invalidates_lists_and_pages(
    api: Any, staff_api: Any, garage_data: dict[str, Any], method: str, path: str, body: Any
) -> None:
    client = Client()
    for url in ("/api/cars", "/api/keys", "/api/garages", "/", "/voitures/", "/cles/"):
        api.get(url) if url.startswith("/api/") else client.get(url)
    path = path.format(key=garage_data["keys"][0].pk, car=garage_data["cars"][0].pk)

    assert staff_api.request(method, path, body).status_code in (200, 201, 204)

    for url in ("/api/cars", "/api/keys", "/api/garages"):
        assert api.get(url)["X-Kubedefis-Cache"] == "miss", url
    for url in ("/", "/voitures/", "/cles/"):
        assert client.get(url)["X-Kubedefis-Cache"] == "miss", url


def test_a_failed_write_keeps_the_cache(api: Any, staff_api: Any, garage_data: dict[str, Any]) -> None:
    api.get("/api/keys")

    assert (
        staff_api.post(f"/api/keys/{garage_data['keys'][1].pk}/lend", {"username": "bob"}).status_code == 409
    )

    assert api.get("/api/keys")["X-Kubedefis-Cache"] == "hit"


def test_admin_edits_invalidate_too(api: Any, garage_data: dict[str, Any]) -> None:
    api.get("/api/cars")
    car = garage_data["cars"][0]
    car.model = "Clio RS"
    car.save()  # what the admin does

    response = api.get("/api/cars")

    assert response["X-Kubedefis-Cache"] == "miss" and "Clio RS" in response.content.decode()


def test_pages_are_not_cached_for_signed_in_staff(garage_data: dict[str, Any], make_user: Any) -> None:
    client = Client()
    client.force_login(make_user("staff", is_staff=True))

    client.get("/voitures/")
    response = client.get("/voitures/")

    assert response["X-Kubedefis-Cache"] == "miss"
    assert "Déconnexion (staff)" in response.content.decode()


@pytest.fixture
def redis_down(settings: Any) -> ForgivingRedisCache:
    settings.CACHES = {
        "default": {
            "BACKEND": "kubedefis_site.cache.ForgivingRedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
        }
    }
    ForgivingRedisCache._down_until = 0.0
    yield caches["default"]
    ForgivingRedisCache._down_until = 0.0


def test_unreachable_redis_reads_as_a_miss(redis_down: ForgivingRedisCache) -> None:
    assert isinstance(redis_down, ForgivingRedisCache)
    redis_down.set("k", "v")
    assert redis_down.get("k", "default") == "default"
    assert redis_down.add("k", "v") is False
    assert redis_down.get_many(["k"]) == {}
    assert redis_down.delete("k") is False


def test_unreachable_redis_never_fails_a_request(
    redis_down: Any, api: Any, garage_data: dict[str, Any]
) -> None:
    for _ in range(2):
        response = api.get("/api/cars")
        assert response.status_code == 200 and response["X-Kubedefis-Cache"] == "miss"
        assert response.json()["count"] == 3
    assert Client().get("/").status_code == 200
