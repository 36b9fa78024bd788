"""gunicorn settings, overridable with GUNICORN_* variables.

Defaults suit a pod limited to 200m CPU / 200Mi: 2 processes x 4 threads (gthread) keep memory
around 120 MiB while threads overlap database round-trips.
"""

import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"Environment variable {name} must be an integer, got {value!r}") from None


bind = "0.0.0.0:8000"
wsgi_app = "kubedefis_site.wsgi:application"
worker_class = "gthread"
workers = _int("GUNICORN_WORKERS", 2)
threads = _int("GUNICORN_THREADS", 4)
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then so a slow leak can never reach the memory limit.
max_requests = 5000
max_requests_jitter = 500
# A bad setting fails the pod at once with ImproperlyConfigured, instead of workers crash-looping.
preload_app = True
# Heartbeat files in memory: the image may run with a read-only root filesystem.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# No control socket: it would be written under $HOME, which user 10001 does not have.
control_socket_disable = True
# Défi 18: each read of a request (body included) waits at most this long for the client, so a
# client trickling its body cannot hold a thread for long (the site also bounds the whole body:
# DJANGO_BODY_TIMEOUT). gunicorn has no such setting, hence the hook.
BODY_READ_TIMEOUT = _int("DJANGO_BODY_TIMEOUT", 10)


def pre_request(worker: object, req: object) -> None:
    sock = getattr(getattr(req, "unreader", None), "sock", None)
    if BODY_READ_TIMEOUT > 0 and sock is not None and hasattr(sock, "settimeout"):
        sock.settimeout(BODY_READ_TIMEOUT)


accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("DJANGO_LOG_LEVEL", "info").lower()
logger_class = "kubedefis_site.gunicorn_logging.JsonAccessLogger"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "kubedefis_site.logs.JsonFormatter"}},
    "handlers": {
        "stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "json"},
        "access": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"},
    },
    "root": {"handlers": ["stdout"], "level": "INFO"},
    "loggers": {
        "gunicorn.error": {"handlers": ["stdout"], "level": loglevel.upper(), "propagate": False},
        "gunicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
    },
}
