"""Failed sign-ins spend a budget per address and per username; once spent, no password is hashed."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.backends import ModelBackend
from django.test import Client

from kubedefis_site import login_limits

pytestmark = pytest.mark.django_db

BURST = 3
ATTACKER = "198.51.100.7"
NEIGHBOUR = "203.0.113.9"


@pytest.fixture(autouse=True)
def budget(settings: Any) -> Iterator[None]:
    settings.LOGIN_ATTEMPTS_PER_MINUTE = 1.0
    settings.LOGIN_ATTEMPTS_BURST = BURST
    login_limits._budgets.cache_clear()
    yield
    login_limits._budgets.cache_clear()


@pytest.fixture
def hashings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Usernames whose password Django's model backend checked."""
    checked: list[str] = []
    original = ModelBackend.authenticate

    def spy(self: Any, request: Any, username: Any = None, password: Any = None, **kwargs: Any) -> Any:
        checked.append(username)
        return original(self, request, username, password, **kwargs)

    monkeypatch.setattr(ModelBackend, "authenticate", spy)
    return checked


def sign_in(username: str, password: str, address: str = ATTACKER, path: str = "/accounts/login/") -> Any:
    return Client().post(path, {"username": username, "password": password}, HTTP_X_FORWARDED_FOR=address)


def signed_in(response: Any) -> bool:
    return response.status_code == 302


def test_a_guessing_run_is_stopped_before_any_hashing(make_user: Any, hashings: list[str]) -> None:
    make_user("chef", is_staff=True)
    for guess in range(BURST):
        assert not signed_in(sign_in("chef", f"guess-{guess}"))
    assert len(hashings) == BURST

    refused = sign_in("chef", "a-long-test-password")  # even the right password, now

    assert not signed_in(refused)
    assert "Trop de tentatives de connexion échouées : réessayez dans" in refused.content.decode()
    assert len(hashings) == BURST


def test_the_budget_is_per_address_and_per_username(make_user: Any) -> None:
    make_user("chef", is_staff=True)
    make_user("alice")
    for guess in range(BURST):
        sign_in("chef", f"guess-{guess}")

    # Another username from the attacker's address: refused (the address's budget is spent).
    assert not signed_in(sign_in("alice", "a-long-test-password"))
    # The attacked username from another address: refused too (its own budget is spent).
    assert not signed_in(sign_in("chef", "a-long-test-password", address=NEIGHBOUR))
    # Someone else, elsewhere: unaffected.
    assert signed_in(sign_in("alice", "a-long-test-password", address=NEIGHBOUR))


def test_successful_sign_ins_spend_nothing(make_user: Any) -> None:
    make_user("chef", is_staff=True)

    assert all(signed_in(sign_in("chef", "a-long-test-password")) for _ in range(BURST * 3))


def test_the_admin_sign_in_has_the_same_budget(make_user: Any, hashings: list[str]) -> None:
    make_user("chef", is_staff=True)
    for guess in range(BURST):
        sign_in("chef", f"guess-{guess}", path="/admin/login/")

    refused = sign_in("chef", "a-long-test-password", path="/admin/login/")

    assert not signed_in(refused) and "Trop de tentatives" in refused.content.decode()
    assert len(hashings) == BURST


def test_switched_off_there_is_no_budget(settings: Any, make_user: Any) -> None:
    settings.LOGIN_ATTEMPTS_PER_MINUTE = 0
    make_user("chef", is_staff=True)
    for guess in range(BURST * 2):
        sign_in("chef", f"guess-{guess}")

    assert signed_in(sign_in("chef", "a-long-test-password"))
