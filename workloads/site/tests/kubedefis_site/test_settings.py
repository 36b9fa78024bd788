"""Settings come only from the environment; a missing one stops start-up with one clear line."""

import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

SITE_DIR = Path(__file__).resolve().parents[2]
SETTINGS_FILE = SITE_DIR / "kubedefis_site" / "settings.py"
MINIMAL_ENV = {
    "DJANGO_SECRET_KEY": "s3cret",
    "DJANGO_ALLOWED_HOSTS": "example.org, .svc.cluster.local",
    "POSTGRES_HOST": "postgres",
    "POSTGRES_USER": "garage",
    "POSTGRES_PASSWORD": "pw",
}
ALL_VARIABLES = [
    *MINIMAL_ENV,
    "DJANGO_DEBUG",
    "DJANGO_LOG_LEVEL",
    "DJANGO_CSRF_TRUSTED_ORIGINS",
    "DJANGO_COMPONENT",
    "DJANGO_MAX_BODY_BYTES",
    "POSTGRES_PORT",
    "POSTGRES_DB",
    "POSTGRES_REPLICA_HOST",
    "POSTGRES_REPLICA_PORT",
    "CACHE_URL",
    "DJANGO_NAIVE",
    "DJANGO_RATELIMIT_RATE",
    "DJANGO_RATELIMIT_BURST",
    "DJANGO_CLIENT_MAX_CONCURRENCY",
    "DJANGO_TRUSTED_PROXIES",
    "DJANGO_BODY_TIMEOUT",
    "DJANGO_HTTPS_REDIRECT",
    "DJANGO_HTTPS_HOST",
    "DJANGO_HSTS_SECONDS",
    "SITE_VERSION",
    "KUBEDEFIS_SCHEMA_STAGE",
]


def load_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    """Executes settings.py afresh against exactly `env`."""
    for name in ALL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS_FILE))


def test_minimal_environment_gives_safe_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(monkeypatch, **MINIMAL_ENV)

    assert settings["SECRET_KEY"] == "s3cret"
    assert settings["ALLOWED_HOSTS"] == ["example.org", ".svc.cluster.local"]
    assert settings["DEBUG"] is False
    assert settings["KUBEDEFIS_COMPONENT"] == "site"
    assert settings["ROOT_URLCONF"] == "kubedefis_site.urls.site"
    assert settings["DATABASES"]["default"] | {"OPTIONS": None} == settings["DATABASES"]["default"] | {
        "HOST": "postgres",
        "PORT": 5432,
        "NAME": "garage",
        "USER": "garage",
        "PASSWORD": "pw",
        "OPTIONS": None,
    }
    assert set(settings["DATABASES"]) == {"default"}
    assert "DATABASE_ROUTERS" not in settings
    assert settings["CACHES"]["default"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
    assert settings["DATA_UPLOAD_MAX_MEMORY_SIZE"] == 64 * 1024
    assert settings["LOG_LEVEL"] == "INFO"
    assert settings["CSRF_TRUSTED_ORIGINS"] == []


@pytest.mark.parametrize("missing", list(MINIMAL_ENV))
def test_each_required_variable_is_named_when_missing(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    env = {name: value for name, value in MINIMAL_ENV.items() if name != missing}

    with pytest.raises(ImproperlyConfigured, match=f"^Missing required environment variable {missing}$"):
        load_settings(monkeypatch, **env)


def test_an_empty_value_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY"):
        load_settings(monkeypatch, **(MINIMAL_ENV | {"DJANGO_SECRET_KEY": "  "}))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DJANGO_DEBUG", "maybe"),
        ("POSTGRES_PORT", "five"),
        ("DJANGO_COMPONENT", "worker"),
        ("DJANGO_MAX_BODY_BYTES", "-1"),
        ("SITE_VERSION", "broken"),  # défi 19's broken image
    ],
)
def test_malformed_values_are_refused_by_name(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=name):
        load_settings(monkeypatch, **(MINIMAL_ENV | {name: value}))


def test_optional_variables_are_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(
        monkeypatch,
        **MINIMAL_ENV,
        DJANGO_DEBUG="true",
        DJANGO_LOG_LEVEL="debug",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://garage.example.org,https://b.example.org",
        DJANGO_COMPONENT="API",
        DJANGO_MAX_BODY_BYTES="2048",
        POSTGRES_PORT="6543",
        POSTGRES_DB="garagedb",
        CACHE_URL="redis://:pw@redis:6379/1",
    )

    assert settings["DEBUG"] is True and settings["LOG_LEVEL"] == "DEBUG"
    assert settings["CSRF_TRUSTED_ORIGINS"] == ["https://garage.example.org", "https://b.example.org"]
    assert settings["KUBEDEFIS_COMPONENT"] == "api" and settings["ROOT_URLCONF"] == "kubedefis_site.urls.api"
    assert settings["DATA_UPLOAD_MAX_MEMORY_SIZE"] == 2048
    assert (
        settings["DATABASES"]["default"]["PORT"] == 6543
        and settings["DATABASES"]["default"]["NAME"] == "garagedb"
    )
    assert settings["CACHES"]["default"]["BACKEND"] == "kubedefis_site.cache.ForgivingRedisCache"
    assert settings["CACHES"]["default"]["LOCATION"] == "redis://:pw@redis:6379/1"


def test_a_replica_host_adds_a_replica_alias_and_the_router(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(
        monkeypatch, **MINIMAL_ENV, POSTGRES_REPLICA_HOST="postgres-ro", POSTGRES_REPLICA_PORT="5433"
    )

    replica = settings["DATABASES"]["replica"]
    assert (replica["HOST"], replica["PORT"], replica["NAME"]) == ("postgres-ro", 5433, "garage")
    assert settings["DATABASE_ROUTERS"] == ["kubedefis_site.db_router.PrimaryReplicaRouter"]


def test_manage_py_without_secret_key_fails_with_one_clear_line() -> None:
    env = {key: value for key, value in os.environ.items() if key not in ALL_VARIABLES}
    env |= {name: value for name, value in MINIMAL_ENV.items() if name != "DJANGO_SECRET_KEY"}
    env["DJANGO_SETTINGS_MODULE"] = "kubedefis_site.settings"

    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=SITE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line == (
        "django.core.exceptions.ImproperlyConfigured: Missing required environment variable DJANGO_SECRET_KEY"
    )
