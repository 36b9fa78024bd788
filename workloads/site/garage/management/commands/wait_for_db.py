"""`manage.py wait_for_db --timeout 60`: block until PostgreSQL accepts connections (init containers).

A database that is still starting refuses connections; a host name that does not resolve may be a
wrong setting (POSTGRES_HOST), or a right name not published yet: a StatefulSet pod's name
(`db-0.db-headless`) gets its DNS record once the pod has an address and the EndpointSlice
controller has caught up, which on a busy 2-core node took minutes (the suite's four lanes: a
30 s give-up failed the migrations of défis 7 and 18 there). So by default an unresolved name is
waited for like a refused connection, until --timeout; --unresolved-timeout N gives up sooner,
saying the name does not resolve, where a name is known to resolve at once (a ClusterIP Service).
"""

import re
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections

# libpq's and psycopg's words for a name the resolver does not know.
UNRESOLVED = re.compile(
    r"could not translate host name|failed to resolve host|Name or service not known", re.I
)


class Command(BaseCommand):
    help = "Wait until the database accepts connections; exit 1 after --timeout seconds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait (default 60)")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between tries (default 1)")
        parser.add_argument(
            "--unresolved-timeout",
            type=float,
            default=0.0,
            help="seconds a host name may stay unresolved before the command gives up (default 0: --timeout)",
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="database alias (default: default)")

    def handle(
        self,
        *args: Any,
        timeout: float,
        interval: float,
        unresolved_timeout: float,
        database: str,
        **options: Any,
    ) -> None:
        connection = connections[database]
        start = time.monotonic()
        deadline = start + timeout
        unresolved_since: float | None = None
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
                now = time.monotonic()
                if unresolved_timeout > 0 and UNRESOLVED.search(str(exc)):
                    unresolved_since = now if unresolved_since is None else unresolved_since
                    if now + interval - unresolved_since > unresolved_timeout:
                        host = connection.settings_dict.get("HOST") or "(default)"
                        raise CommandError(
                            f"database {database!r}: host {host!r} does not resolve after"
                            f" {now - unresolved_since:.0f}s (is the database host setting right?): {error}"
                        ) from None
                else:
                    unresolved_since = None
                if now + interval > deadline:
                    raise CommandError(
                        f"database {database!r} unavailable after {timeout:g}s: {error}"
                    ) from None
                self.stderr.write(f"waiting for database {database!r} (attempt {attempt}): {error}")
                time.sleep(interval)
            else:
                self.stdout.write(f"database {database!r} is available")
                return
