"""Primary/replica routing: reads to the replica unless a write or a transaction needs the primary."""

from typing import Any

import pytest
from django.db import transaction
from django.http import HttpRequest, HttpResponse

from garage.models import Car
from kubedefis_site.db_router import PrimaryReplicaRouter, pin_to_primary, reset_pinning
from kubedefis_site.middleware import ComponentHeadersMiddleware


@pytest.fixture
def router() -> Any:
    reset_pinning()
    yield PrimaryReplicaRouter()
    reset_pinning()


def test_plain_reads_go_to_the_replica(router: PrimaryReplicaRouter) -> None:
    assert router.db_for_read(Car) == "replica"


def test_writes_go_to_the_primary_and_pin_later_reads_there(router: PrimaryReplicaRouter) -> None:
    assert router.db_for_write(Car) == "default"

    assert router.db_for_read(Car) == "default"


@pytest.mark.django_db(transaction=True)
def test_reads_inside_a_transaction_go_to_the_primary(router: PrimaryReplicaRouter) -> None:
    assert router.db_for_read(Car) == "replica"
    with transaction.atomic():
        assert router.db_for_read(Car) == "default"


def test_migrations_only_run_on_the_primary(router: PrimaryReplicaRouter) -> None:
    assert router.allow_migrate("default", "garage") is True
    assert router.allow_migrate("replica", "garage") is False


def test_each_request_starts_and_ends_unpinned(router: PrimaryReplicaRouter) -> None:
    seen: list[str] = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(router.db_for_read(Car))
        router.db_for_write(Car)
        seen.append(router.db_for_read(Car))
        return HttpResponse()

    pin_to_primary()  # left over from somewhere else: must not leak into the request
    ComponentHeadersMiddleware(view)(HttpRequest())

    assert seen == ["replica", "default"]
    assert router.db_for_read(Car) == "replica"
