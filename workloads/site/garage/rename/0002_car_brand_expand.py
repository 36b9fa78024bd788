"""Expand: the column `brand` next to `make`, both nullable, kept equal by a trigger.

Adding a nullable column without a default and dropping NOT NULL only change the catalog: each
takes its ACCESS EXCLUSIVE lock for milliseconds, and the zero-downtime backend gives up after
DJANGO_MIGRATION_LOCK_TIMEOUT instead of queueing every query behind a long transaction (the Job
then retries). The trigger keeps both columns equal whichever one a pod writes, so pods still
running the initial code (they only know `make`) and pods of the expand stage can serve together.
"""

from django.db import migrations, models

SYNC_FUNCTION = """
CREATE OR REPLACE FUNCTION garage_car_sync_brand() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.make IS DISTINCT FROM OLD.make AND NEW.brand IS NOT DISTINCT FROM OLD.brand THEN
            NEW.brand := NEW.make;
        ELSIF NEW.brand IS DISTINCT FROM OLD.brand AND NEW.make IS NOT DISTINCT FROM OLD.make THEN
            NEW.make := NEW.brand;
        END IF;
    END IF;
    NEW.brand := COALESCE(NEW.brand, NEW.make);
    NEW.make := COALESCE(NEW.make, NEW.brand);
    RETURN NEW;
END
$$
"""
SYNC_TRIGGER = """
CREATE OR REPLACE TRIGGER garage_car_sync_brand BEFORE INSERT OR UPDATE ON garage_car
FOR EACH ROW EXECUTE FUNCTION garage_car_sync_brand()
"""
DROP = [
    "DROP TRIGGER IF EXISTS garage_car_sync_brand ON garage_car",
    "DROP FUNCTION IF EXISTS garage_car_sync_brand()",
]


class Migration(migrations.Migration):
    dependencies = [("garage", "0001_initial")]

    operations = [
        migrations.AddField(model_name="car", name="brand", field=models.CharField(max_length=50, null=True)),
        migrations.AlterField(
            model_name="car", name="make", field=models.CharField(max_length=50, null=True)
        ),
        migrations.RunSQL(
            ["SET lock_timeout TO '2s'", SYNC_FUNCTION, SYNC_TRIGGER, "RESET lock_timeout"], reverse_sql=DROP
        ),
    ]
