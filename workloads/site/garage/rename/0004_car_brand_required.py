"""Contract, before the contract pods serve: `brand` becomes NOT NULL.

The zero-downtime backend does it without a long lock: a CHECK (brand IS NOT NULL) NOT VALID,
validated (SHARE UPDATE EXCLUSIVE: reads and writes go on), then SET NOT NULL, which PostgreSQL
proves from the valid constraint without scanning the table, then the check is dropped.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("garage", "0003_car_brand_backfill")]

    operations = [
        migrations.AlterField(model_name="car", name="brand", field=models.CharField(max_length=50)),
    ]
