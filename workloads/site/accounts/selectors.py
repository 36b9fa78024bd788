"""Reads of API tokens (never the tokens themselves: only their prefix is kept)."""

from typing import Any

from accounts.models import ApiToken


def token_list(*, username: str | None = None) -> list[dict[str, Any]]:
    tokens = ApiToken.objects.select_related("user").order_by("id")
    if username is not None:
        tokens = tokens.filter(user__username=username)
    return [
        {
            "id": token.pk,
            "user": token.user.get_username(),
            "name": token.name,
            "prefix": token.prefix,
            "created_at": token.created_at,
            "expires_at": token.expires_at,
            "last_used_at": token.last_used_at,
            "state": token.state(),
        }
        for token in tokens
    ]
