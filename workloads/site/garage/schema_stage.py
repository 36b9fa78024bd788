"""Défi 20: renaming Car.make to Car.brand without downtime or loss, as expand/contract stages.

KUBEDEFIS_SCHEMA_STAGE says which code runs; each stage works with the database of its own
stage and of the stages next to it, so old and new pods can serve side by side during a rollout:

- ``initial``: the column ``make``; the API says ``make``. Migrations: ``garage.migrations``.
- ``expand``: migration 0002 adds ``brand`` (nullable, instant), makes ``make`` nullable and adds
  a trigger that copies either column into the other on every write, so rows written by pods
  still running the initial code get ``brand`` too; 0003 backfills ``brand`` in batches of 500
  rows, one short transaction each. The code writes both columns, reads ``brand`` (falling back
  to ``make``), and the API shows and accepts both names.
- ``contract``: 0004 makes ``brand`` NOT NULL (a NOT VALID check, validated, then SET NOT NULL:
  no long lock); the code reads and writes ``brand`` only, and the API still shows ``make`` as a
  deprecated alias. After the rollout, when no pod of the expand stage is left, 0005 drops the
  trigger and the column ``make`` (the post phase).

The expand and contract stages use the migration module ``garage.rename``, whose 0001 is the
same migration as ``garage.migrations``; the initial stage never sees migrations 0002-0005.
"""

from typing import Any

from django.conf import settings
from django.db.models import F
from django.db.models.functions import Coalesce

STAGE: str = settings.KUBEDEFIS_SCHEMA_STAGE
STAGES = ("initial", "expand", "contract")

# The last garage migration each stage needs before its pods may serve ("pre": a pre-upgrade
# hook applies it), and the one it reaches once every pod runs it ("post").
TARGETS: dict[str, dict[str, str]] = {
    "initial": {"pre": "0001_initial", "post": "0001_initial"},
    "expand": {"pre": "0003_car_brand_backfill", "post": "0003_car_brand_backfill"},
    "contract": {"pre": "0004_car_brand_required", "post": "0005_drop_car_make"},
}


def target(phase: str = "pre", stage: str = STAGE) -> str:
    return TARGETS[stage][phase]


def brand_names() -> tuple[str, ...]:
    """The names under which the API shows the value (``make`` stays until clients have moved)."""
    return ("make",) if STAGE == "initial" else ("make", "brand")


def car_columns(value: str) -> dict[str, str]:
    """Model field values for a car's brand: the columns this stage writes."""
    if STAGE == "initial":
        return {"make": value}
    if STAGE == "expand":
        return {"make": value, "brand": value}
    return {"brand": value}


def brand_expression() -> Any:
    """The expression this stage reads the brand from (``brand`` may still be NULL in expand)."""
    if STAGE == "initial":
        return F("make")
    if STAGE == "expand":
        return Coalesce("brand", "make")
    return F("brand")


def shown(row: dict[str, Any]) -> dict[str, Any]:
    """A car row with its brand under every name the API shows (the selector read it as _brand)."""
    value = row.pop("_brand")
    for name in brand_names():
        row[name] = value
    return row


def given_brand(fields: dict[str, Any]) -> dict[str, Any]:
    """API input: a ``brand`` given becomes the service's ``make`` (the schemas made them agree)."""
    brand = fields.pop("brand", None)
    if brand is not None:
        fields["make"] = brand
    return fields
