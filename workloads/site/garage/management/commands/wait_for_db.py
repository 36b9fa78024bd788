"""`manage.py wait_for_db --timeout 60`: block until PostgreSQL accepts connections (init containers)."""

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections


class Command(BaseCommand):
    help = "Wait until the database accepts connections; exit 1 after --timeout seconds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait (default 60)")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between tries (default 1)")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="database alias (default: default)")

    def handle(self, *args: Any, timeout: float, interval: float, database: str, **options: Any) -> None:
        connection = connections[database]
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            attempt += 1
            try:
                connection.ensure_connection()
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
            except OperationalError as exc:
                connection.close()
                error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                if time.monotonic() + interval > deadline:
                    raise CommandError(
                        f"database {database!r} unavailable after {timeout:g}s: {error}"
                    ) from None
                self.stderr.write(f"waiting for database {database!r} (attempt {attempt}): {error}")
                time.sleep(interval)
            else:
                self.stdout.write(f"database {database!r} is available")
                return
