"""Schemathesis fuzzes the API from its own OpenAPI document: no input may cause a 5xx.

Twice: as a staff member with a bearer token (every operation reachable), and anonymously, where
every write must be a 401 whatever the input (schemathesis also sends made-up bearer tokens and
session cookies, from the document's security schemes). Runs in-process against the WSGI
application, in the test's transaction. Bounded by max_examples.
"""

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kubedefis_site.wsgi import application

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


# Serving the OpenAPI document touches no database, so it can be loaded at collection time.
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application)


@pytest.fixture(autouse=True)
def _keep_the_test_transaction(garage_data: dict[str, Any]) -> Iterator[None]:
    # As Django's test client does: closing connections after a request would end the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def staff_token(garage_data: dict[str, Any]) -> str:
    from accounts.services import token_create

    return token_create(user=garage_data["staff"], days=1)[1]


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_input_makes_the_api_fail(case: Any, staff_token: str) -> None:
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {staff_token}"}
    case.call_and_validate(checks=CHECKS)


@pytest.mark.django_db
@schema.include(method=sorted(WRITE_METHODS)).parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_anonymous_input_writes(case: Any) -> None:
    response = case.call_and_validate(checks=CHECKS)

    # Schemathesis also tries methods the path does not have (TRACE, QUERY...): those are 405.
    expected = 401 if case.method.upper() == case.operation.method.upper() else 405
    assert response.status_code == expected, (case.method, case.formatted_path, response.status_code)
