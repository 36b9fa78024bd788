"""API tokens in the admin: listed by prefix (never the token), revoked from the list, not made there."""

from typing import Any

import pytest
from django.test import Client

from accounts import services
from accounts.models import ApiToken

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(make_user: Any) -> Client:
    client = Client()
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


def test_tokens_are_listed_by_prefix_and_revoked_from_the_list(admin_client: Client, staff_user: Any) -> None:
    api_token, token = services.token_create(user=staff_user, name="ci")

    listing = admin_client.get("/admin/accounts/apitoken/").content.decode()
    assert token[:10] in listing and token not in listing and "active" in listing

    response = admin_client.post(
        "/admin/accounts/apitoken/", {"action": "revoke", "_selected_action": [api_token.pk]}
    )

    assert response.status_code == 302
    api_token.refresh_from_db()
    assert api_token.state() == "revoked"


def test_tokens_are_not_made_in_the_admin(admin_client: Client) -> None:
    assert admin_client.get("/admin/accounts/apitoken/add/").status_code == 403
    assert not ApiToken.objects.exists()
