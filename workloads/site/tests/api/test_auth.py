"""Who the caller is (api/auth.py): bearer tokens, the browser's session with CSRF, and the OpenAPI
document, whose every write operation is tried without credentials."""

import hashlib
import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts import services
from accounts.models import ApiToken
from garage.models import Garage
from tests.conftest import JsonClient

pytestmark = pytest.mark.django_db

WRITE_METHODS = ("post", "put", "patch", "delete")
CSRF_SECRET = "k" * 32  # an unmasked CSRF secret, as Django accepts it in the cookie and the header


def openapi() -> dict[str, Any]:
    response = Client().get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()


def write_operations() -> list[tuple[str, str]]:
    document = openapi()
    return [
        (method, path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in WRITE_METHODS
    ]


# The OpenAPI document, walked.


def test_every_write_of_the_openapi_document_refuses_anonymous_callers(garage_data: dict[str, Any]) -> None:
    ids = {
        "garage_id": garage_data["garages"][1].pk,
        "car_id": garage_data["cars"][0].pk,
        "key_id": garage_data["keys"][1].pk,  # lent: a return would succeed
    }
    operations = write_operations()
    assert len(operations) >= 14, operations
    client = Client()
    junk = Client(HTTP_AUTHORIZATION="Bearer kd_not-a-token-of-this-site-0123456789abcdef")
    junk.cookies["sessionid"] = "not-a-session"
    before = Garage.objects.count()

    for method, path in operations:
        url = re.sub(r"\{(\w+)\}", lambda match: str(ids.get(match.group(1), 1)), path)
        for caller in (client, junk):
            response = getattr(caller, method)(url, data="{}", content_type="application/json")
            assert response.status_code == 401, (method, path, response.status_code, response.content)

    assert Garage.objects.count() == before


def test_the_openapi_document_declares_the_security_schemes() -> None:
    document = openapi()

    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiTokenAuth"]["type"] == "http" and schemes["ApiTokenAuth"]["scheme"] == "bearer"
    assert (schemes["ApiKeyHeaderAuth"]["type"], schemes["ApiKeyHeaderAuth"]["in"]) == ("apiKey", "header")
    assert schemes["ApiKeyHeaderAuth"]["name"] == "X-Api-Key"
    assert schemes["SessionAuth"] == {
        "type": "apiKey",
        "in": "cookie",
        "name": "sessionid",
        "description": schemes["SessionAuth"]["description"],
    }
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method in WRITE_METHODS:
                expected = [{"ApiTokenAuth": []}, {"ApiKeyHeaderAuth": []}, {"SessionAuth": []}]
                assert operation["security"] == expected, (method, path)
                assert {"401", "403"} <= set(operation["responses"]), (method, path)
            elif path != "/api/users/me":
                assert "security" not in operation, (method, path)


# Bearer tokens.


def test_a_token_is_stored_as_its_sha256_only(staff_user: Any) -> None:
    api_token, token = services.token_create(user=staff_user, days=30, name="ci")

    stored = ApiToken.objects.values().get(pk=api_token.pk)
    assert token.startswith("kd_") and len(token) >= 40
    assert stored["digest"] == hashlib.sha256(token.encode()).hexdigest()
    assert stored["prefix"] == token[:10]
    assert token not in {str(value) for value in stored.values()}


def test_who_am_i(staff_api: JsonClient, api: JsonClient, staff_user: Any) -> None:
    assert staff_api.get("/api/users/me").json() == {
        "id": staff_user.pk,
        "username": "manager",
        "is_staff": True,
        "is_active": True,
    }
    assert api.get("/api/users/me").status_code == 401


def refused(token: str) -> bool:
    response = JsonClient(token).post("/api/garages", {"name": "Refusé", "city": "Nulle part"})
    return response.status_code == 401 and not Garage.objects.filter(name="Refusé").exists()


def test_a_revoked_token_is_refused(staff_user: Any) -> None:
    api_token, token = services.token_create(user=staff_user)
    assert JsonClient(token).get("/api/users/me").status_code == 200

    assert services.token_revoke(token_ids=[api_token.pk]) == 1

    assert refused(token)


def test_an_expired_token_is_refused(staff_user: Any) -> None:
    api_token, token = services.token_create(user=staff_user, days=1)
    ApiToken.objects.filter(pk=api_token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert refused(token)


def test_the_token_of_an_inactive_user_is_refused(staff_user: Any) -> None:
    _api_token, token = services.token_create(user=staff_user)
    staff_user.is_active = False
    staff_user.save()

    assert refused(token)


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer kd_unknown",
        "Token {token}",
        "Basic bWFuYWdlcjphLWxvbmctdGVzdC1wYXNzd29yZA==",
    ],
)
def test_malformed_or_unknown_credentials_are_401(staff_user: Any, header: str) -> None:
    _api_token, token = services.token_create(user=staff_user)

    response = Client().post(
        "/api/garages",
        data='{"name": "Refusé", "city": "Paris"}',
        content_type="application/json",
        HTTP_AUTHORIZATION=header.format(token=token),
    )

    assert response.status_code == 401 and not Garage.objects.filter(name="Refusé").exists()


def test_last_use_is_recorded_at_most_hourly(staff_user: Any, django_assert_num_queries: Any) -> None:
    api_token, token = services.token_create(user=staff_user)
    client = JsonClient(token)

    with django_assert_num_queries(2):  # the token with its user, then its last use
        assert client.get("/api/users/me").status_code == 200
    with django_assert_num_queries(1):
        assert client.get("/api/users/me").status_code == 200

    api_token.refresh_from_db()
    assert api_token.last_used_at is not None


# The browser: Django's session, with CSRF.


@pytest.fixture
def browser(staff_user: Any) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    client.cookies["csrftoken"] = CSRF_SECRET
    return client


def test_a_signed_in_browser_writes_with_its_csrf_token(browser: Client) -> None:
    response = browser.post(
        "/api/garages",
        data='{"name": "Garage du Navigateur", "city": "Paris"}',
        content_type="application/json",
        HTTP_X_CSRFTOKEN=CSRF_SECRET,
    )

    assert response.status_code == 201, response.content


def test_a_session_write_without_its_csrf_token_is_403(browser: Client) -> None:
    response = browser.post(
        "/api/garages", data='{"name": "Forgé", "city": "Paris"}', content_type="application/json"
    )

    assert response.status_code == 403
    assert response.json()["message"].startswith("CSRF check failed")
    assert not Garage.objects.filter(name="Forgé").exists()


def test_a_session_of_a_user_who_is_not_staff_is_403(make_user: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("carole"))
    client.cookies["csrftoken"] = CSRF_SECRET

    response = client.post(
        "/api/garages",
        data='{"name": "Pas à moi", "city": "Paris"}',
        content_type="application/json",
        HTTP_X_CSRFTOKEN=CSRF_SECRET,
    )

    assert response.status_code == 403 and response.json()["message"] == "only staff may create garages"


def test_the_token_also_works_in_the_api_key_header(staff_user: Any) -> None:
    """kubectl proxy does not pass `Authorization` on to the Service: the same token in X-Api-Key."""
    from django.test import Client

    _, token = services.token_create(user=staff_user)
    body = {"name": "Garage par kubectl proxy", "city": "Évry"}
    client = Client()
    assert client.post("/api/garages", body, content_type="application/json").status_code == 401

    def post(key: str) -> Any:
        return client.post("/api/garages", body, content_type="application/json", headers={"X-Api-Key": key})

    wrong = post("kd_nope")
    assert wrong.status_code == 401
    ok = post(token)
    assert ok.status_code == 201, ok.content
