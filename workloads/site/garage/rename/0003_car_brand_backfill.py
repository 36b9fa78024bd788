"""Backfill: `brand` copied from `make` by id ranges of 500 rows, each range its own short transaction.

One UPDATE of the whole table would lock every row until it commits and write it all to the WAL
at once; ranges keep each lock short. Rows written meanwhile are handled by the trigger of 0002.
Idempotent: only rows whose `brand` is still NULL are touched, so a retried Job resumes.
"""

from django.db import migrations, transaction

BATCH = 500


def backfill(apps, schema_editor):  # type: ignore[no-untyped-def]
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(min(id), 0), coalesce(max(id), 0) FROM garage_car")
        low, high = cursor.fetchone()
    start = low
    while start <= high:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(
                "UPDATE garage_car SET brand = make WHERE id >= %s AND id < %s AND brand IS NULL",
                [start, start + BATCH],
            )
        start += BATCH


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("garage", "0002_car_brand_expand")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop, atomic=False)]
