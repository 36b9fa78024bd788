"""Settings of the kubedefis site, read only from environment variables (see README.md)."""

import socket
from pathlib import Path
from typing import Any

from kubedefis_site.env import Env

env = Env()
BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = env.required("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.csv("DJANGO_ALLOWED_HOSTS", required=True)
DEBUG = env.boolean("DJANGO_DEBUG", default=False)
CSRF_TRUSTED_ORIGINS = env.csv("DJANGO_CSRF_TRUSTED_ORIGINS")
LOG_LEVEL = (env.get("DJANGO_LOG_LEVEL") or "INFO").upper()

# Which URLs this process serves: "site" (everything), "api" or "public".
KUBEDEFIS_COMPONENT = env.choice("DJANGO_COMPONENT", ("site", "api", "public"), default="site")
KUBEDEFIS_POD = socket.gethostname()
ROOT_URLCONF = f"kubedefis_site.urls.{KUBEDEFIS_COMPONENT}"
# Défi 8: the version of the site's code, baked into the image by a build argument. v2 adds the
# page /nouveautes/ and a banner; every response says which version served it (X-Site-Version).
# Any other value (défi 19 builds `broken`) stops start-up, like every malformed variable.
SITE_VERSION = env.choice("SITE_VERSION", ("v1", "v2"), default="v1")
# Défi 20: where the rename of Car.make to Car.brand stands (garage/schema_stage.py).
KUBEDEFIS_SCHEMA_STAGE = env.choice(
    "KUBEDEFIS_SCHEMA_STAGE", ("initial", "expand", "contract"), default="initial"
)
# Défi 17: the course reference site's weaknesses, on purpose (unpaginated lists, no body limit,
# no rate limit). Never in production; the chart's naive profile also runs the development server.
NAIVE = env.boolean("DJANGO_NAIVE", default=False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",
    "accounts",
    "garage",
    "public",
    "api",
]

MIDDLEWARE = [
    # Outermost, so every response (static files and errors included) carries the headers.
    "kubedefis_site.middleware.ComponentHeadersMiddleware",
    # Before SecurityMiddleware: kubelet probes use the pod IP as Host, which ALLOWED_HOSTS may not list.
    "kubedefis_site.middleware.HealthCheckMiddleware",
    # Per-client limits (rate, requests in flight, body deadline) before any real work; then the
    # redirect of plain-HTTP requests that came through the Ingress.
    "kubedefis_site.client_limits.ClientLimitsMiddleware",
    "kubedefis_site.security.HttpsRedirectMiddleware",
    "kubedefis_site.middleware.ApiJsonErrorsMiddleware",
    "kubedefis_site.middleware.BodySizeLimitMiddleware",
    "kubedefis_site.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "kubedefis_site.context.site_version",
            ],
        },
    },
]

WSGI_APPLICATION = "kubedefis_site.wsgi.application"


def _database(host: str, port: int) -> dict[str, Any]:
    return {
        # Django's PostgreSQL backend plus lock and statement timeouts on migrations, concurrent
        # index builds and NOT VALID constraints (défi 20); the same backend for everything else.
        "ENGINE": "django_zero_downtime_migrations.backends.postgres",
        "HOST": host,
        "PORT": port,
        "NAME": POSTGRES_DB,
        "USER": POSTGRES_USER,
        "PASSWORD": POSTGRES_PASSWORD,
        # Persistent connections: reconnecting per request costs more CPU than the query itself.
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        # Fail fast when PostgreSQL is down so the API answers 503 quickly.
        # The application name says which code holds each connection (défi 20: the post-upgrade
        # migration waits until no connection of an older schema stage is left).
        "OPTIONS": {
            "connect_timeout": 3,
            "application_name": f"kubedefis-{KUBEDEFIS_COMPONENT}-{KUBEDEFIS_SCHEMA_STAGE}",
        },
    }


POSTGRES_USER = env.required("POSTGRES_USER")
POSTGRES_PASSWORD = env.required("POSTGRES_PASSWORD")
POSTGRES_DB = env.get("POSTGRES_DB") or POSTGRES_USER
DATABASES = {
    "default": _database(env.required("POSTGRES_HOST"), env.integer("POSTGRES_PORT", 5432, minimum=1)),
}
_replica_host = env.get("POSTGRES_REPLICA_HOST")
if _replica_host:
    DATABASES["replica"] = _database(_replica_host, env.integer("POSTGRES_REPLICA_PORT", 5432, minimum=1))
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["kubedefis_site.db_router.PrimaryReplicaRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_cache_url = env.get("CACHE_URL")
if _cache_url:
    CACHES = {
        "default": {
            # Redis wrapped so that an unreachable Redis is a cache miss, never a 5xx.
            "BACKEND": "kubedefis_site.cache.ForgivingRedisCache",
            "LOCATION": _cache_url,
            "TIMEOUT": 300,
            "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "kubedefis",
            "TIMEOUT": 300,
            "OPTIONS": {"MAX_ENTRIES": 2000},
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in (the login page, the admin): Django's model backend behind a per-process budget of
# attempts per client address and per username (kubedefis_site/login_limits.py): once spent, an
# attempt is refused before any password hashing. 0 switches the budget off.
AUTHENTICATION_BACKENDS = ["kubedefis_site.login_limits.ThrottledModelBackend"]
LOGIN_ATTEMPTS_PER_MINUTE = 0.0 if NAIVE else float(env.integer("DJANGO_LOGIN_ATTEMPTS_PER_MINUTE", 2))
LOGIN_ATTEMPTS_BURST = env.integer("DJANGO_LOGIN_ATTEMPTS_BURST", 5, minimum=1)
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
MESSAGE_STORAGE = "django.contrib.messages.storage.cookie.CookieStorage"

LANGUAGE_CODE = "fr-fr"
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Only the hashed (cache-forever) copies are kept in the image: it must stay under 200 MB.
WHITENOISE_KEEP_ONLY_HASHED_FILES = True
# Local runs without collectstatic still get their CSS; in the image STATIC_ROOT has everything.
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "kubedefis_site.storage.StaticStorage"},
}

# Bodies above this size are refused with 413 (JSON under /api/); the naive profile reads any body.
DATA_UPLOAD_MAX_MEMORY_SIZE: int | None = (
    None if NAIVE else env.integer("DJANGO_MAX_BODY_BYTES", 64 * 1024, minimum=1024)
)

# Défi 18: per-client limits, per process (kubedefis_site/client_limits.py). The client is the
# address DJANGO_TRUSTED_PROXIES hops from the right of X-Forwarded-For + the peer address (1: the
# Ingress controller is the one proxy in front). Rate 0 or concurrency 0 switches that limit off.
RATELIMIT_RATE = 0.0 if NAIVE else float(env.integer("DJANGO_RATELIMIT_RATE", 20))
RATELIMIT_BURST = env.integer("DJANGO_RATELIMIT_BURST", 40, minimum=1)
CLIENT_MAX_CONCURRENCY = 0 if NAIVE else env.integer("DJANGO_CLIENT_MAX_CONCURRENCY", 2)
TRUSTED_PROXIES = env.integer("DJANGO_TRUSTED_PROXIES", 1)
# Seconds a request body may take to arrive (slow clients); 0 = no deadline.
BODY_TIMEOUT = 0 if NAIVE else env.integer("DJANGO_BODY_TIMEOUT", 10)

# Behind a Kubernetes ingress that terminates TLS: the Ingress says the scheme in X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Défi 19: Strict-Transport-Security on HTTPS answers (0 = none), and plain-HTTP requests that came
# through the Ingress redirected to HTTPS (kubedefis_site/security.py; probes and in-cluster
# callers without X-Forwarded-Proto are never redirected). DJANGO_HTTPS_HOST replaces the host in
# the redirect (`host:port` when HTTPS is not on 443, as on the local cluster).
SECURE_HSTS_SECONDS = env.integer("DJANGO_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = False
HTTPS_REDIRECT = env.boolean("DJANGO_HTTPS_REDIRECT", default=False)
HTTPS_HOST = env.get("DJANGO_HTTPS_HOST")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS_REDIRECT
SESSION_COOKIE_HTTPONLY = True

# Défi 20: no migration statement waits for a lock or holds one longer than this (then it fails
# and the migration Job retries it: django-pg-zero-downtime-migrations).
ZERO_DOWNTIME_MIGRATIONS_LOCK_TIMEOUT = env.get("DJANGO_MIGRATION_LOCK_TIMEOUT", "2s")
ZERO_DOWNTIME_MIGRATIONS_STATEMENT_TIMEOUT = env.get("DJANGO_MIGRATION_STATEMENT_TIMEOUT", "5s")
ZERO_DOWNTIME_MIGRATIONS_FLEXIBLE_STATEMENT_TIMEOUT = True
ZERO_DOWNTIME_MIGRATIONS_IDEMPOTENT_SQL = True
ZERO_DOWNTIME_MIGRATIONS_RAISE_FOR_UNSAFE = False
MIGRATION_MODULES = {
    "garage": "garage.migrations" if KUBEDEFIS_SCHEMA_STAGE == "initial" else "garage.rename"
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "kubedefis_site.logs.JsonFormatter"}},
    "handlers": {
        "stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "json"}
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        # One JSON line per failed request is enough; gunicorn already logs each access.
        "django.server": {"handlers": ["stdout"], "level": "WARNING", "propagate": False},
    },
}
