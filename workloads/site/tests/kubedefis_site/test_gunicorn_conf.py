"""gunicorn.conf.py: defaults for a 200m CPU / 200Mi pod, GUNICORN_* overrides, JSON access lines."""

import json
import runpy
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from gunicorn.config import Config

from kubedefis_site.gunicorn_logging import JsonAccessLogger

CONF = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"


def load(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    for name in ("GUNICORN_WORKERS", "GUNICORN_THREADS", "GUNICORN_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONF))


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = load(monkeypatch)

    assert conf["bind"] == "0.0.0.0:8000" and conf["wsgi_app"] == "kubedefis_site.wsgi:application"
    assert (conf["worker_class"], conf["workers"], conf["threads"], conf["timeout"]) == ("gthread", 2, 4, 30)
    assert conf["accesslog"] == "-" and conf["logger_class"].endswith("JsonAccessLogger")


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = load(monkeypatch, GUNICORN_WORKERS="3", GUNICORN_THREADS="8", GUNICORN_TIMEOUT="60")

    assert (conf["workers"], conf["threads"], conf["timeout"]) == (3, 8, 60)


def test_a_malformed_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit, match="GUNICORN_WORKERS"):
        load(monkeypatch, GUNICORN_WORKERS="two")


def test_access_lines_are_json(capsys: pytest.CaptureFixture[str]) -> None:
    config = Config()
    config.set("accesslog", "-")
    logger = JsonAccessLogger(config)
    response = SimpleNamespace(status="201 Created", sent=42, headers=[("X-Kubedefis-Cache", "miss")])
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": "/api/cars",
        "PATH_INFO": "/api/cars",
        "QUERY_STRING": "a=1",
    }
    environ |= {"SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.0.0.1", "HTTP_USER_AGENT": "curl"}

    logger.access(response, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=12))

    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line | {"ts": None} == {
        "ts": None,
        "level": "INFO",
        "logger": "gunicorn.access",
        "remote": "10.0.0.1",
        "method": "POST",
        "path": "/api/cars",
        "query": "a=1",
        "status": 201,
        "bytes": 42,
        "duration_ms": 12.0,
        "user_agent": "curl",
        "cache": "miss",
    }
