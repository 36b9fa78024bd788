"""Writes of API tokens. Keyword-only functions, each in one transaction (HackSoft styleguide)."""

import re
import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import PREFIX_LENGTH, ApiToken, token_digest
from garage.errors import Conflict, Invalid

TOKEN_PREFIX = "kd_"
# A token given from outside (the chart's Secret): long enough to be unguessable, and made of
# characters an Authorization header carries as they are (RFC 6750's token68, no spaces).
GIVEN_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]{32,200}")
MAX_DAYS = 3650
# last_used_at is written at most this often per token: a write per request would cost more
# than the request, and "used in the last hour" is precise enough to decide what to revoke.
LAST_USED_RESOLUTION = timedelta(hours=1)


def new_token() -> str:
    """`kd_` + 256 random bits (URL-safe base64)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _expiry(days: int) -> Any:
    if not 1 <= days <= MAX_DAYS:
        raise Invalid("invalid lifetime", fields={"days": [f"between 1 and {MAX_DAYS} days"]})
    return timezone.now() + timedelta(days=days)


def _save(*, user: Any, token: str, days: int, name: str) -> ApiToken:
    api_token = ApiToken(
        user=user,
        name=name.strip(),
        prefix=token[:PREFIX_LENGTH],
        digest=token_digest(token),
        expires_at=_expiry(days),
    )
    api_token.full_clean(exclude=["user"])
    api_token.save()
    return api_token


@transaction.atomic
def token_create(*, user: Any, days: int = 90, name: str = "") -> tuple[ApiToken, str]:
    """A new token for `user`: the stored row and the token itself (shown once, never stored)."""
    token = new_token()
    return _save(user=user, token=token, days=days, name=name), token


@transaction.atomic
def token_ensure(
    *, username: str, token: str, days: int = 365, staff: bool = False, name: str = ""
) -> tuple[ApiToken, str]:
    """Makes sure `token` belongs to `username` (both created when missing): for tokens generated
    outside the site (the chart's Secret). Returns the row and what was found: `created`, or the
    state of the existing token (`active`, `expired`, `revoked`).

    Never brings back a revoked or expired token, and never changes an existing user (an account
    an administrator deactivated or demoted stays so): to replace the chart's token, give a new one.
    """
    if not GIVEN_TOKEN.fullmatch(token):
        raise Invalid(
            "unusable token", fields={"token": ["32 to 200 characters among A-Z a-z 0-9 . _ ~ + / = -"]}
        )
    users = get_user_model()._default_manager
    user = users.filter(username=username).first()
    if user is None:
        user = users.create_user(username=username, is_staff=staff)  # no password: unusable
    existing = ApiToken.objects.select_related("user").filter(digest=token_digest(token)).first()
    if existing is not None:
        if existing.user_id != user.pk:
            raise Conflict("this token belongs to another user", fields={"token": ["already used"]})
        return existing, existing.state()
    return _save(user=user, token=token, days=days, name=name or "made by api_token ensure"), "created"


@transaction.atomic
def token_revoke(*, token_ids: Iterable[int] = (), username: str | None = None) -> int:
    """Revokes the given tokens and, with `username`, every token of that user; returns how many."""
    chosen = Q(pk__in=list(token_ids))
    if username is not None:
        chosen |= Q(user__username=username)
    return ApiToken.objects.filter(chosen, revoked_at__isnull=True).update(revoked_at=timezone.now())


def token_authenticate(*, token: str) -> Any:
    """The active user a valid token belongs to, or None (unknown, revoked, expired, inactive user).

    Read from the primary: a token made or revoked a moment ago counts at once, whatever the
    replicas' lag. One query (token and user joined); plus, at most hourly, the last-use time.
    """
    if not token or len(token) > 200:
        return None
    now = timezone.now()
    tokens = ApiToken.objects.using(DEFAULT_DB_ALIAS)
    try:
        api_token = tokens.select_related("user").get(
            digest=token_digest(token), revoked_at__isnull=True, expires_at__gt=now, user__is_active=True
        )
    except ApiToken.DoesNotExist:
        return None
    if api_token.last_used_at is None or now - api_token.last_used_at > LAST_USED_RESOLUTION:
        tokens.filter(pk=api_token.pk).update(last_used_at=now)
    return api_token.user
