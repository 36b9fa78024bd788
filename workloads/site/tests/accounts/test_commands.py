"""`manage.py api_token create|list|revoke|ensure`."""

import json
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import ApiToken
from tests.conftest import JsonClient

pytestmark = pytest.mark.django_db

CHART_TOKEN = "kd_" + "C" * 40  # what the chart's Secret holds (random there)


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("api_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_prints_the_token_once_and_it_works(staff_user: Any) -> None:
    out, err = run("create", "--user", "manager", "--days", "7", "--name", "ci")

    token = out.strip()
    assert token.startswith("kd_") and "shown once" in err
    assert JsonClient(token).post("/api/garages", {"name": "Par jeton", "city": "Lyon"}).status_code == 201
    listed, _ = run("list")
    assert token[:10] in listed and "active" in listed and token not in listed


def test_create_for_an_unknown_user_fails(db: None) -> None:
    with pytest.raises(CommandError, match="no user 'nobody'"):
        run("create", "--user", "nobody")


@pytest.mark.parametrize("days", ["0", "5000"])
def test_create_refuses_a_lifetime_out_of_range(staff_user: Any, days: str) -> None:
    with pytest.raises(CommandError, match="invalid lifetime"):
        run("create", "--user", "manager", "--days", days)


def test_revoke_by_id_and_by_user(staff_user: Any, make_user: Any) -> None:
    make_user("alice")
    first = run("create", "--user", "manager")[0].strip()
    second = run("create", "--user", "manager")[0].strip()
    alices = run("create", "--user", "alice")[0].strip()
    first_id = ApiToken.objects.get(prefix=first[:10]).pk

    assert run("revoke", str(first_id))[0].strip() == "1 token(s) revoked"
    assert JsonClient(first).get("/api/users/me").status_code == 401
    assert JsonClient(second).get("/api/users/me").status_code == 200

    assert run("revoke", "--user", "manager")[0].strip() == "1 token(s) revoked"
    assert JsonClient(second).get("/api/users/me").status_code == 401
    assert JsonClient(alices).get("/api/users/me").status_code == 200
    with pytest.raises(CommandError, match="give token ids or --user"):
        run("revoke")


def test_ensure_makes_the_user_and_the_token_once(monkeypatch: pytest.MonkeyPatch, db: None) -> None:
    monkeypatch.setenv("KUBEDEFIS_API_TOKEN", CHART_TOKEN)
    args = ("ensure", "--user", "kubedefis-loadtest", "--staff", "--token-from-env", "KUBEDEFIS_API_TOKEN")

    first, _ = run(*args, "--wait", "5")
    second, _ = run(*args)

    assert "created" in first and "active" in second and CHART_TOKEN not in first + second
    user = get_user_model().objects.get(username="kubedefis-loadtest")
    assert user.is_staff and not user.has_usable_password()
    assert ApiToken.objects.filter(user=user).count() == 1
    me = JsonClient(CHART_TOKEN).get("/api/users/me").json()
    assert me["username"] == "kubedefis-loadtest" and me["is_staff"] is True


def test_ensure_never_revives_a_revoked_token(monkeypatch: pytest.MonkeyPatch, db: None) -> None:
    monkeypatch.setenv("KUBEDEFIS_API_TOKEN", CHART_TOKEN)
    args = ("ensure", "--user", "kubedefis-loadtest", "--token-from-env", "KUBEDEFIS_API_TOKEN")
    run(*args)
    run("revoke", "--user", "kubedefis-loadtest")

    out, err = run(*args)  # exit 0: pods running it as an init step must start anyway

    assert "revoked" in err and out == ""
    assert JsonClient(CHART_TOKEN).get("/api/users/me").status_code == 401


def test_ensure_does_not_change_an_existing_user(monkeypatch: pytest.MonkeyPatch, make_user: Any) -> None:
    make_user("kubedefis-loadtest")
    monkeypatch.setenv("KUBEDEFIS_API_TOKEN", CHART_TOKEN)

    run("ensure", "--user", "kubedefis-loadtest", "--staff", "--token-from-env", "KUBEDEFIS_API_TOKEN")

    assert not get_user_model().objects.get(username="kubedefis-loadtest").is_staff


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "KUBEDEFIS_API_TOKEN is empty or not set"),
        ("short", "unusable token"),
        ("a b" * 20, "unusable token"),
        (CHART_TOKEN + "\n", "unusable token"),
    ],
)
def test_ensure_refuses_a_missing_or_weak_token(
    monkeypatch: pytest.MonkeyPatch, db: None, value: str, message: str
) -> None:
    monkeypatch.setenv("KUBEDEFIS_API_TOKEN", value)

    with pytest.raises(CommandError, match=message):
        run("ensure", "--user", "u", "--token-from-env", "KUBEDEFIS_API_TOKEN")

    assert not ApiToken.objects.exists()


def test_ensure_refuses_a_token_of_another_user(monkeypatch: pytest.MonkeyPatch, db: None) -> None:
    monkeypatch.setenv("KUBEDEFIS_API_TOKEN", CHART_TOKEN)
    run("ensure", "--user", "first", "--token-from-env", "KUBEDEFIS_API_TOKEN")

    with pytest.raises(CommandError, match="this token belongs to another user"):
        run("ensure", "--user", "second", "--token-from-env", "KUBEDEFIS_API_TOKEN")


CHECK_TOKEN = """
import json, os
from django.test import Client
from accounts import services
ready = Client().get("/readyz")
user = services.token_authenticate(token=os.environ["KUBEDEFIS_API_TOKEN"])
pending = ready.json().get("pending", [])
print("RESULT", ready.status_code, user.username if user else None, json.dumps(pending))
"""


def readiness_and_token_owner(site: Any, env: dict[str, str]) -> tuple[str, str, list[str]]:
    """/readyz's status, the user the token authenticates (or None) and the pending migrations."""
    line = site.shell(CHECK_TOKEN, env=env).split("RESULT", 1)[1].splitlines()[0]
    status, username, pending = line.split(maxsplit=2)
    return status, username, json.loads(pending)


def test_ensure_migrate_registers_the_token_before_the_site_can_be_ready(site_process: Any) -> None:
    """The chart's migration Job: `api_token ensure --migrate`, then the migrations. On a fresh
    database the token works from the moment /readyz is 200 (garage is still to migrate until then)."""
    env = {"KUBEDEFIS_API_TOKEN": CHART_TOKEN}
    args = ("ensure", "--user", "kubedefis-loadtest", "--staff", "--token-from-env", "KUBEDEFIS_API_TOKEN")

    out = site_process.manage("api_token", *args, "--migrate", env=env)

    assert "Applying accounts.0001_initial" in out and "Applying garage" not in out, out
    status, username, pending = readiness_and_token_owner(site_process, env)
    assert (status, username) == ("503", "kubedefis-loadtest")
    assert any(name.startswith("garage.") for name in pending), pending

    site_process.manage("migrate_stage")
    assert readiness_and_token_owner(site_process, env) == ("200", "kubedefis-loadtest", [])
    # the next revision's Job: nothing to apply, nothing changed
    assert "active" in site_process.manage("api_token", *args, "--migrate", env=env)


def test_ensure_takes_migrate_or_wait_not_both(monkeypatch: pytest.MonkeyPatch, db: None) -> None:
    monkeypatch.setenv("KUBEDEFIS_API_TOKEN", CHART_TOKEN)
    with pytest.raises(CommandError, match="not allowed with argument"):
        run("ensure", "--user", "u", "--token-from-env", "KUBEDEFIS_API_TOKEN", "--migrate", "--wait", "5")
