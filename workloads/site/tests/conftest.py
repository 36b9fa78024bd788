"""Test session setup: a real, throwaway PostgreSQL and settings from the environment, as in production."""

import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

SITE_DIR = Path(__file__).resolve().parents[1]
if str(SITE_DIR) not in sys.path:
    sys.path.insert(0, str(SITE_DIR))

from kubedefis_site_testing.postgres import ThrowawayPostgres  # noqa: E402

# What a pod gets from its ConfigMap/Secret, minus the database (added once PostgreSQL is up).
TEST_ENV = {
    "DJANGO_SECRET_KEY": "test-only-secret-key-not-for-production-0123456789",
    "DJANGO_ALLOWED_HOSTS": "testserver,localhost",
    "DJANGO_DEBUG": "false",
    "DJANGO_LOG_LEVEL": "WARNING",
    "DJANGO_COMPONENT": "site",
    # One test client sends hundreds of requests a second: the per-client rate limit has its own
    # tests (tests/kubedefis_site/test_client_limits.py), with the limit switched on there.
    "DJANGO_RATELIMIT_RATE": "0",
    # Same for the failed sign-in budget (tests/kubedefis_site/test_login_limits.py switches it on).
    "DJANGO_LOGIN_ATTEMPTS_PER_MINUTE": "0",
}
UNSET_ENV = (
    "CACHE_URL",
    "POSTGRES_REPLICA_HOST",
    "POSTGRES_REPLICA_PORT",
    "DJANGO_MAX_BODY_BYTES",
    "DJANGO_NAIVE",
    "SITE_VERSION",
    "KUBEDEFIS_SCHEMA_STAGE",
    "DJANGO_HTTPS_REDIRECT",
    "DJANGO_HSTS_SECONDS",
)
postgres_key = pytest.StashKey[ThrowawayPostgres]()


def pytest_configure(config: pytest.Config) -> None:
    # Runs before pytest-django sets Django up, so settings.py reads the real server's address.
    if config.option.help or config.option.version:
        return
    postgres = ThrowawayPostgres().start()
    config.add_cleanup(postgres.stop)
    config.stash[postgres_key] = postgres
    for name in UNSET_ENV:
        os.environ.pop(name, None)
    os.environ.update(TEST_ENV)
    os.environ.update(postgres.env())
    os.environ["DJANGO_SETTINGS_MODULE"] = "kubedefis_site.settings"
    from django.conf import settings

    settings.DATABASES  # noqa: B018 (load settings now, so pytest-django's pytest_configure sets Django up)


@pytest.fixture(scope="session")
def postgres(pytestconfig: pytest.Config) -> ThrowawayPostgres:
    return pytestconfig.stash[postgres_key]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # PBKDF2's deliberate slowness would dominate the suite's run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    # The data version restarts with every rolled-back test: a cached body must not leak across tests.
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


class JsonClient:
    """Django's test client speaking JSON, for the API tests; with a token, every request sends it."""

    def __init__(self, token: str | None = None) -> None:
        from django.test import Client

        self.client = Client()
        self.token = token

    def request(
        self, method: str, path: str, body: Any = None, *, raw: bytes | str | None = None, **extra: Any
    ) -> Any:
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if self.token is not None:
            extra.setdefault("HTTP_AUTHORIZATION", f"Bearer {self.token}")
        call: Callable[..., Any] = getattr(self.client, method.lower())
        if data is None:
            return call(path, **extra)
        return call(path, data=data, content_type="application/json", **extra)

    def get(self, path: str, **extra: Any) -> Any:
        return self.request("GET", path, **extra)

    def post(self, path: str, body: Any = None, **extra: Any) -> Any:
        return self.request("POST", path, body, **extra)

    def put(self, path: str, body: Any = None, **extra: Any) -> Any:
        return self.request("PUT", path, body, **extra)

    def patch(self, path: str, body: Any = None, **extra: Any) -> Any:
        return self.request("PATCH", path, body, **extra)

    def delete(self, path: str, **extra: Any) -> Any:
        return self.request("DELETE", path, **extra)


@pytest.fixture
def api() -> JsonClient:
    """An anonymous client: reads work, writes are a 401."""
    return JsonClient()


@pytest.fixture
def api_as(db: None) -> Callable[[Any], JsonClient]:
    """A client sending a fresh bearer token of the given user."""
    from accounts import services

    def make(user: Any) -> JsonClient:
        _api_token, token = services.token_create(user=user, days=1, name="test")
        return JsonClient(token)

    return make


@pytest.fixture
def staff_api(api_as: Callable[[Any], JsonClient], staff_user: Any) -> JsonClient:
    """A client with the bearer token of a staff member: every write is allowed."""
    return api_as(staff_user)


@pytest.fixture
def make_user(db: None) -> Callable[..., Any]:
    from django.contrib.auth import get_user_model

    def make(username: str = "alice", **fields: Any) -> Any:
        return get_user_model().objects.create_user(
            username=username, password="a-long-test-password", **fields
        )

    return make


@pytest.fixture
def staff_user(make_user: Callable[..., Any]) -> Any:
    """The staff member who manages the garages (the services' actor in fixtures)."""
    return make_user("manager", is_staff=True)


@pytest.fixture
def garage_data(db: None, make_user: Callable[..., Any], staff_user: Any) -> dict[str, Any]:
    """Two garages, three cars with keys (one key lent to alice), two users and a staff member."""
    from garage import services

    staff = staff_user
    paris = services.garage_create(actor=staff, name="Garage de Paris", city="Paris")
    evry = services.garage_create(
        actor=staff, name="Garage d'Évry", city="Évry", address="9 rue Charles Fourier"
    )
    clio = services.car_create(
        actor=staff,
        make="Renault",
        model="Clio",
        plate="AA-001-AA",
        year=2019,
        garage_id=paris.pk,
        key_colour="rouge",
    )
    zoe = services.car_create(
        actor=staff,
        make="Renault",
        model="Zoe",
        plate="AA-002-AA",
        year=2021,
        garage_id=paris.pk,
        key_colour="bleu",
    )
    c3 = services.car_create(
        actor=staff,
        make="Citroën",
        model="C3",
        plate="AA-003-AA",
        year=2017,
        garage_id=evry.pk,
        key_colour="vert",
    )
    alice, bob = make_user("alice"), make_user("bob")
    services.key_lend(actor=alice, key_id=zoe.key.pk)
    return {
        "garages": [paris, evry],
        "cars": [clio, zoe, c3],
        "keys": [clio.key, zoe.key, c3.key],
        "users": [alice, bob],
        "staff": staff,
    }


def many_cars(count: int, *, lent_every: int = 3) -> None:
    """Rows in bulk, to show that query counts do not grow with the data."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from garage.models import Car, Garage, Key, Loan

    garages = Garage.objects.bulk_create(
        [Garage(name=f"G{i}", city="Lyon") for i in range(max(1, count // 10))]
    )
    cars = Car.objects.bulk_create(
        [
            Car(
                make="Peugeot",
                model="208",
                plate=f"BB-{i:03d}-{i // 1000:02d}",
                year=2020,
                garage=garages[i % len(garages)],
            )
            for i in range(count)
        ]
    )
    keys = Key.objects.bulk_create([Key(car=car, colour="noir") for car in cars])
    user = get_user_model().objects.create_user(username=f"bulk{count}")
    Loan.objects.bulk_create(
        [Loan(key=key, borrower=user, lent_at=timezone.now()) for key in keys[::lent_every]]
    )


class SiteProcess:
    """manage.py in a subprocess, with its own database and extra environment (site version, naive
    mode, schema stage: settings read once at start-up that a test cannot change in-process)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def manage(self, *args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
        import subprocess

        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=SITE_DIR,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout + result.stderr

    def shell(self, script: str, env: dict[str, str] | None = None) -> str:
        return self.manage("shell", "-c", script, env=env)


@pytest.fixture
def site_process(postgres: ThrowawayPostgres, request: pytest.FixtureRequest) -> SiteProcess:
    """A fresh, empty database of its own (not migrated) and a way to run manage.py against it."""
    import re
    import uuid

    import psycopg

    name = "sub_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:40] + "_" + uuid.uuid4().hex[:6]
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(postgres.env())
    env["DJANGO_SETTINGS_MODULE"] = "kubedefis_site.settings"
    env["POSTGRES_DB"] = name
    admin = {"host": env["POSTGRES_HOST"], "port": env["POSTGRES_PORT"], "user": env["POSTGRES_USER"]}
    with psycopg.connect(
        **admin, password=env["POSTGRES_PASSWORD"], dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return SiteProcess(env)
