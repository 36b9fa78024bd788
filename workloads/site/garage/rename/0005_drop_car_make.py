"""Contract, after every pod runs the contract code (a post-upgrade hook): the trigger and `make` go.

No running code reads or writes `make` any more. DROP COLUMN only marks the column dropped in the
catalog (no rewrite): a short ACCESS EXCLUSIVE lock, bounded by the lock timeout.
"""

from django.db import migrations

DROP = [
    "SET lock_timeout TO '2s'",
    "DROP TRIGGER IF EXISTS garage_car_sync_brand ON garage_car",
    "DROP FUNCTION IF EXISTS garage_car_sync_brand()",
    "RESET lock_timeout",
]


class Migration(migrations.Migration):
    dependencies = [("garage", "0004_car_brand_required")]

    operations = [
        migrations.RunSQL(DROP, reverse_sql=migrations.RunSQL.noop),
        migrations.RemoveField(model_name="car", name="make"),
    ]
