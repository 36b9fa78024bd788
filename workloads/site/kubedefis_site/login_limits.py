"""A budget of failed sign-ins, per client address and per username, for every sign-in form.

Django's model backend hashes the password given (PBKDF2-SHA256, 1 000 000 iterations in Django
5.2, even for an unknown username), which makes each guess cost the attacker one hash, but
costs the site the same CPU: unchecked, a guessing run would spend the pods' CPU on hashing. So
each failed sign-in spends a token from two buckets of the site's token buckets
(kubedefis_site/client_limits.py): the client's address and the username tried. With either
empty, the next attempt is refused at once, before any hashing, for everyone trying from that
address or that username, until the bucket refills (LOGIN_ATTEMPTS_PER_MINUTE, at most
LOGIN_ATTEMPTS_BURST saved up). Successful sign-ins spend nothing.

As with the other limits, each process keeps its own counters: with W workers per pod and P
pods, a guessing run gets at most W x P times the budget (README: numbers). The login form then
says how long to wait (`request.login_retry_after`).
"""

import logging
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from kubedefis_site.client_limits import TokenBuckets, client_address

logger = logging.getLogger(__name__)


@lru_cache(maxsize=4)
def _budgets(per_minute: float, burst: int) -> tuple[TokenBuckets, TokenBuckets]:
    """Buckets of addresses and of usernames (one pair per setting, for tests that change it)."""
    return TokenBuckets(per_minute / 60, burst), TokenBuckets(per_minute / 60, burst)


class ThrottledModelBackend(ModelBackend):
    """Django's ModelBackend, refusing an attempt without hashing once its budget is spent."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        per_minute = settings.LOGIN_ATTEMPTS_PER_MINUTE
        if request is None or not per_minute:  # test clients' login(), management commands
            return super().authenticate(request, username, password, **kwargs)
        addresses, usernames = _budgets(per_minute, settings.LOGIN_ATTEMPTS_BURST)
        client = client_address(request.META, settings.TRUSTED_PROXIES)
        name = str(username or kwargs.get(self._username_field()) or "").casefold()
        wait = max(addresses.peek(client), usernames.peek(name))
        if wait:
            request.login_retry_after = wait  # type: ignore[attr-defined]
            logger.warning("sign-in refused: too many failed attempts", extra={"client": client})
            # Django's authenticate() stops at PermissionDenied: no other backend, no hashing.
            raise PermissionDenied("too many failed sign-ins")
        user = super().authenticate(request, username, password, **kwargs)
        if user is None:
            addresses.take(client)
            usernames.take(name)
        return user

    @staticmethod
    def _username_field() -> str:
        from django.contrib.auth import get_user_model

        return get_user_model().USERNAME_FIELD
