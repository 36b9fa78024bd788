"""The data version: bumped inside every write transaction, read to key cached responses."""

from django.db import connections, router

from garage.models import DataVersion

_TABLE = DataVersion._meta.db_table
# An upsert, so a flushed table (tests, fresh database) needs no data migration.
_BUMP_SQL = (
    f"INSERT INTO {_TABLE} (id, version) VALUES (1, 2) "
    f"ON CONFLICT (id) DO UPDATE SET version = {_TABLE}.version + 1"
)


def bump_data_version() -> None:
    with connections[router.db_for_write(DataVersion)].cursor() as cursor:
        cursor.execute(_BUMP_SQL)


def current_data_version() -> int:
    with connections[router.db_for_read(DataVersion)].cursor() as cursor:
        cursor.execute(f"SELECT version FROM {_TABLE} WHERE id = 1")
        row = cursor.fetchone()
    return int(row[0]) if row else 1
