"""`manage.py migrate_stage [--phase pre|post]`: this schema stage's migrations (défi 20), never backwards.

Every app but garage goes to its latest migration; garage goes to the target of
KUBEDEFIS_SCHEMA_STAGE for the phase (garage/schema_stage.py): `pre` before the stage's pods
serve (a pre-upgrade hook), `post` once they all run (a post-upgrade hook; also a fresh install).
A garage already past the target is left alone: rolling back code never drops a column.

Before the post phase it waits (--settle-timeout) until no database connection is held by code of
another schema stage (settings' application_name): the old pods are gone, they keep serving
during their preStop sleep and grace period after the new ones are ready.

A statement that gives up on a lock (lock timeout: a long transaction holds the table) is tried
again, up to --attempts times: the migrations are idempotent (ZERO_DOWNTIME_MIGRATIONS_IDEMPOTENT_SQL).
"""

import time
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections
from django.db.migrations.loader import MigrationLoader

from garage import schema_stage

LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE of lock_timeout
QUERY_CANCELED = "57014"  # SQLSTATE of statement_timeout


class Command(BaseCommand):
    help = "Apply the migrations of this schema stage (KUBEDEFIS_SCHEMA_STAGE), retrying on lock timeouts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--phase", choices=("pre", "post"), default="post")
        parser.add_argument(
            "--attempts", type=int, default=10, help="tries after a lock timeout (default 10)"
        )
        parser.add_argument("--pause", type=float, default=2.0, help="seconds between tries (default 2)")
        parser.add_argument(
            "--settle-timeout",
            type=float,
            default=300.0,
            help="post phase: seconds to wait for older stages' connections to go (default 300; 0: no wait)",
        )

    def handle(
        self, *args: Any, phase: str, attempts: int, pause: float, settle_timeout: float, **options: Any
    ) -> None:
        verbosity = int(options.get("verbosity", 1))
        target = schema_stage.target(phase)
        self.stdout.write(f"schema stage {schema_stage.STAGE}, phase {phase}: garage up to {target}")
        if phase == "post" and target != schema_stage.target("pre") and settle_timeout > 0:
            self._settle(settle_timeout, pause)
        for attempt in range(1, attempts + 1):
            try:
                self._migrate(target, verbosity)
                return
            except OperationalError as exc:
                code = getattr(getattr(exc, "__cause__", None), "sqlstate", None)
                if code not in (LOCK_NOT_AVAILABLE, QUERY_CANCELED) or attempt == attempts:
                    raise CommandError(f"migration failed: {str(exc).strip()}") from exc
                self.stdout.write(f"attempt {attempt}: {str(exc).strip()}; trying again in {pause:.0f}s")
                connections[DEFAULT_DB_ALIAS].close()
                time.sleep(pause)

    def _settle(self, timeout: float, pause: float) -> None:
        """Wait until the site processes of other schema stages have closed their connections."""
        others = [f"kubedefis-%-{stage}" for stage in schema_stage.STAGES if stage != schema_stage.STAGE]
        query = (
            "SELECT application_name FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid() AND ("
            + " OR ".join(["application_name LIKE %s"] * len(others))
            + ")"
        )
        deadline = time.monotonic() + timeout
        while True:
            with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
                cursor.execute(query, others)
                left = sorted(row[0] for row in cursor.fetchall())
            if not left:
                self.stdout.write("no connection of an older stage left")
                return
            if time.monotonic() > deadline:
                raise CommandError(f"connections of other stages still open after {timeout:.0f}s: {left}")
            self.stdout.write(f"waiting for {len(left)} connection(s) of other stages to close: {left}")
            time.sleep(pause)

    def _migrate(self, target: str, verbosity: int) -> None:
        loader = MigrationLoader(connections[DEFAULT_DB_ALIAS])
        applied = {name for app, name in loader.applied_migrations if app == "garage"}
        past_target = [name for name in applied if name > target]
        for app in sorted(loader.migrated_apps - {"garage"}):
            call_command("migrate", app, interactive=False, verbosity=verbosity)
        if past_target:
            self.stdout.write(f"garage is already past {target} ({max(past_target)}): left as it is")
            return
        call_command("migrate", "garage", target, interactive=False, verbosity=verbosity)
