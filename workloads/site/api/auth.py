"""Who is calling the API: django-ninja's own auth classes, on every write operation (reads stay public).

Two ways in, tried in this order (the first that names a user wins; none: 401):

- `ApiTokenAuth`, for programs: `Authorization: Bearer <token>`, a token made by
  `manage.py api_token create|ensure` (accounts.ApiToken: stored as a SHA-256, revocable, expiring).
- `SessionAuth`, for the browser: the Django session of a user signed in on /accounts/login/ (or the
  admin), with Django's CSRF check (the `csrftoken` cookie's value in `X-CSRFToken`).

They only say who the caller is (`request.auth`); what that user may do is decided by the services
(garage.permissions).
"""

from typing import Any

from django.http import HttpRequest
from ninja.security import APIKeyHeader, HttpBearer
from ninja.security import SessionAuth as NinjaSessionAuth

from accounts import services


class ApiTokenAuth(HttpBearer):
    openapi_description = (
        "`Authorization: Bearer <token>`; tokens are made with `manage.py api_token create --user U`."
    )

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        return services.token_authenticate(token=token)


class ApiKeyHeaderAuth(APIKeyHeader):
    """The same token in `X-Api-Key`: for callers whose path eats `Authorization`.

    `kubectl proxy` (défi 3's way in) authenticates to the API server with that header and does not
    pass it on to the Service behind it; a header of our own name goes through.
    """

    param_name = "X-Api-Key"
    openapi_description = "the same token as the bearer one, in `X-Api-Key` (through `kubectl proxy`)."

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        return services.token_authenticate(token=key) if key else None


class SessionAuth(NinjaSessionAuth):
    openapi_description = (
        "The Django session cookie of a signed-in user (/accounts/login/); writes also need the "
        "`csrftoken` cookie's value in the `X-CSRFToken` header."
    )

    def _get_key(self, request: HttpRequest) -> str | None:
        # CSRF protects what a session may do: without a signed-in session there is nothing to
        # protect, and the caller is simply anonymous (401), not a forged request (403).
        if not request.user.is_authenticated:
            return None
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        return super().authenticate(request, key) if key is not None else None


# Every API write: a bearer token (or the same token in X-Api-Key), else a signed-in browser session.
WRITE_AUTH = [ApiTokenAuth(), ApiKeyHeaderAuth(), SessionAuth()]
