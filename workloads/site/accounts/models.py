"""API tokens: what a program sends as `Authorization: Bearer <token>` to write through the API."""

import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone

PREFIX_LENGTH = 10  # characters of the token kept in clear, to recognise it in lists


def token_digest(token: str) -> str:
    """SHA-256 of the token. Tokens are long random strings, not passwords: a fast hash is enough
    (there is nothing to guess from it), and it keeps a lookup to one indexed equality."""
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token of one user. Only its SHA-256 is stored: the token is shown once, when made."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True, help_text="what or who it is for")
    prefix = models.CharField(max_length=PREFIX_LENGTH, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "jeton d'API"
        verbose_name_plural = "jetons d'API"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user_id})"

    def state(self) -> str:
        """`active`, `revoked` or `expired`."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "active"
