"""Liveness (/healthz, no I/O) and readiness (/readyz: database reachable, migrations applied)."""

import logging

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.http import HttpRequest, JsonResponse

from garage import schema_stage

logger = logging.getLogger(__name__)


def healthz(request: HttpRequest) -> JsonResponse:
    return _no_store(JsonResponse({"status": "ok"}))


def readyz(request: HttpRequest) -> JsonResponse:
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        executor = MigrationExecutor(connection)
        # Défi 20: the migrations this schema stage needs, not necessarily the latest ones (the
        # contract stage serves before its last migration, which runs once every pod has moved).
        plan = executor.migration_plan(required_migrations(executor.loader))
        pending = [(migration, backwards) for migration, backwards in plan if not backwards]
    except DatabaseError as exc:
        logger.warning("readiness check failed", extra={"error": str(exc).strip()})
        # A broken connection must not be reused by the next probe.
        connection.close_if_unusable_or_obsolete()
        return _no_store(
            JsonResponse({"status": "unavailable", "message": "database unavailable"}, status=503)
        )
    if pending:
        names = [f"{migration.app_label}.{migration.name}" for migration, _backwards in pending]
        return _no_store(
            JsonResponse(
                {"status": "unavailable", "message": "unapplied migrations", "pending": names}, status=503
            )
        )
    return _no_store(JsonResponse({"status": "ok"}))


def required_migrations(loader: MigrationLoader) -> list[tuple[str, str]]:
    """The latest migration of every app, except garage: the one its schema stage needs first."""
    targets = [node for node in loader.graph.leaf_nodes() if node[0] != "garage"]
    return [*targets, ("garage", schema_stage.target("pre"))]


def _no_store(response: JsonResponse) -> JsonResponse:
    response["Cache-Control"] = "no-store"
    return response
