"""Logs are JSON lines."""

import json
import logging
import sys

from django.conf import settings

from kubedefis_site.logs import JsonFormatter


def test_a_record_is_one_json_object_with_extras() -> None:
    record = logging.LogRecord("garage", logging.WARNING, __file__, 1, "lent %s", ("key",), None)
    record.path = "/api/keys/1/lend"

    line = JsonFormatter().format(record)

    assert "\n" not in line
    payload = json.loads(line)
    assert payload["level"] == "WARNING" and payload["logger"] == "garage"
    assert payload["message"] == "lent key" and payload["path"] == "/api/keys/1/lend"
    assert payload["ts"].endswith("+00:00")


def test_exceptions_are_kept_inside_the_json_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())

    payload = json.loads(JsonFormatter().format(record))

    assert "ValueError: boom" in payload["exc_info"]


def test_objects_that_are_not_json_are_stringified() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    record.request = object()

    assert json.loads(JsonFormatter().format(record))["request"].startswith("<object object")


def test_django_logs_through_the_json_formatter_to_stdout() -> None:
    handler = logging.getLogger("django").handlers[0]

    assert isinstance(handler.formatter, JsonFormatter)
    assert settings.LOGGING["handlers"]["stdout"]["stream"] == "ext://sys.stdout"
