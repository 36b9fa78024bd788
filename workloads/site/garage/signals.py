"""Every write to the garage models (services, admin, shell) bumps the data version."""

from typing import Any

from django.db.models.signals import post_delete, post_save

from garage.models import Car, Garage, Key, Loan
from garage.versioning import bump_data_version


def _bump(sender: type, **kwargs: Any) -> None:
    bump_data_version()


def connect() -> None:
    for model in (Garage, Car, Key, Loan):
        post_save.connect(_bump, sender=model, dispatch_uid=f"bump-version-save-{model.__name__}")
        post_delete.connect(_bump, sender=model, dispatch_uid=f"bump-version-delete-{model.__name__}")
