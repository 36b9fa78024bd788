import math
from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from garage import selectors


class LendForm(forms.Form):
    # The queryset is lazy and copied per form, so users created since start-up are listed.
    user = forms.ModelChoiceField(queryset=selectors.lendable_users(), label="Emprunteur")


class _SaysHowLongToWait:
    """A sign-in refused by the failed-attempt budget (kubedefis_site/login_limits.py) says so."""

    request: Any

    def get_invalid_login_error(self) -> ValidationError:
        wait = getattr(self.request, "login_retry_after", None)
        if wait:
            return ValidationError(
                "Trop de tentatives de connexion échouées : réessayez dans %(seconds)s s.",
                code="throttled",
                params={"seconds": max(1, math.ceil(wait))},
            )
        return super().get_invalid_login_error()  # type: ignore[misc]


class LoginForm(_SaysHowLongToWait, AuthenticationForm):
    pass


class AdminLoginForm(_SaysHowLongToWait, AdminAuthenticationForm):
    pass
