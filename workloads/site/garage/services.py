"""Writes. Keyword-only functions; each validates with full_clean and runs in one transaction.

Every write takes the `actor` (the user asking, or None/AnonymousUser) and asks garage.permissions
before it reads or changes anything it must not: 401 for nobody, 403 for the wrong user.
"""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from garage import permissions, schema_stage
from garage.errors import Conflict, Invalid, NotFound
from garage.models import Car, Garage, Key, Loan
from garage.permissions import Actor

# Model field name -> the name clients send (API bodies use *_id for relations).
_FIELD_NAMES = {"garage": "garage_id", "car": "car_id", "borrower": "user_id", "brand": "make"}
_UNIQUE_CODES = frozenset({"unique", "unique_together"})
M = TypeVar("M", bound=models.Model)


def _clean(instance: models.Model, **kwargs: Any) -> None:
    """full_clean, with errors as Invalid (422), or Conflict (409) when only uniqueness failed."""
    try:
        instance.full_clean(**kwargs)
    except ValidationError as exc:
        fields: dict[str, list[str]] = {}
        codes: set[str | None] = set()
        for field, errors in exc.error_dict.items():
            fields[_FIELD_NAMES.get(field, field)] = [
                message for error in errors for message in error.messages
            ]
            codes.update(error.code for error in errors)
        if codes and codes <= _UNIQUE_CODES:
            raise Conflict("already exists", fields=fields) from None
        raise Invalid("invalid input", fields=fields) from None


@contextmanager
def _integrity_is_conflict(message: str) -> Iterator[None]:
    """A constraint lost to a concurrent request is a conflict, not a server error."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError:
        raise Conflict(message) from None


def _get(model: type[M], pk: int, *, lock: bool = False) -> M:
    queryset = model._default_manager.all()
    if lock:
        queryset = queryset.select_for_update()
    instance = queryset.filter(pk=pk).first()
    if instance is None:
        raise NotFound(f"{model._meta.model_name} {pk} not found")
    return instance


def _apply(instance: models.Model, changes: Mapping[str, Any]) -> list[str]:
    for field, value in changes.items():
        setattr(instance, field, value)
    return list(changes)


def _stripped(changes: Mapping[str, Any]) -> dict[str, Any]:
    return {field: value.strip() if isinstance(value, str) else value for field, value in changes.items()}


def _normalise_plate(plate: Any) -> Any:
    return " ".join(plate.split()).upper() if isinstance(plate, str) else plate


# Garages


@transaction.atomic
def garage_create(*, actor: Actor, name: str, city: str, address: str = "") -> Garage:
    permissions.require_staff(actor, "create garages")
    garage = Garage(name=name.strip(), city=city.strip(), address=address.strip())
    _clean(garage)
    with _integrity_is_conflict("garage already exists"):
        garage.save()
    return garage


@transaction.atomic
def garage_update(*, actor: Actor, garage_id: int, changes: Mapping[str, Any]) -> Garage:
    permissions.require_staff(actor, "edit garages")
    garage = _get(Garage, garage_id, lock=True)
    updated = _apply(garage, _stripped(changes))
    _clean(garage)
    with _integrity_is_conflict("garage already exists"):
        garage.save(update_fields=updated or None)
    return garage


@transaction.atomic
def garage_delete(*, actor: Actor, garage_id: int) -> None:
    permissions.require_staff(actor, "delete garages")
    garage = _get(Garage, garage_id, lock=True)
    if garage.cars.exists():
        raise Conflict(f"garage {garage_id} still has cars", fields={"cars": ["move or delete them first"]})
    garage.delete()


# Cars


@transaction.atomic
def car_create(
    *,
    actor: Actor,
    make: str,
    model: str,
    plate: str,
    year: int,
    garage_id: int,
    key_colour: str | None = None,
) -> Car:
    permissions.require_staff(actor, "create cars")
    car = Car(
        **schema_stage.car_columns(make.strip()),
        model=model.strip(),
        plate=_normalise_plate(plate),
        year=year,
        garage_id=garage_id,
    )
    _clean(car)
    with _integrity_is_conflict("car already exists"):
        car.save()
    if key_colour is not None:
        key_create(actor=actor, car_id=car.pk, colour=key_colour)
    return car


@transaction.atomic
def car_update(*, actor: Actor, car_id: int, changes: Mapping[str, Any]) -> Car:
    permissions.require_staff(actor, "edit cars")
    car = _get(Car, car_id, lock=True)
    changes = _stripped(changes)
    if "plate" in changes:
        changes["plate"] = _normalise_plate(changes["plate"])
    if "make" in changes:
        changes.update(schema_stage.car_columns(changes.pop("make")))
    updated = _apply(car, changes)
    _clean(car)
    with _integrity_is_conflict("car already exists"):
        car.save(update_fields=updated or None)
    return car


@transaction.atomic
def car_delete(*, actor: Actor, car_id: int) -> None:
    permissions.require_staff(actor, "delete cars")
    car = _get(Car, car_id, lock=True)
    if Loan.objects.filter(key__car=car, returned_at__isnull=True).exists():
        raise Conflict(f"the key of car {car_id} is lent", fields={"key": ["return it first"]})
    car.delete()


# Keys


@transaction.atomic
def key_create(*, actor: Actor, car_id: int, colour: str) -> Key:
    permissions.require_staff(actor, "create keys")
    key = Key(car_id=car_id, colour=colour.strip())
    _clean(key)
    with _integrity_is_conflict(f"car {car_id} already has a key"):
        key.save()
    return key


@transaction.atomic
def key_update(*, actor: Actor, key_id: int, changes: Mapping[str, Any]) -> Key:
    permissions.require_staff(actor, "edit keys")
    key = _get(Key, key_id, lock=True)
    updated = _apply(key, _stripped(changes))
    _clean(key)
    key.save(update_fields=updated or None)
    return key


@transaction.atomic
def key_delete(*, actor: Actor, key_id: int) -> None:
    permissions.require_staff(actor, "delete keys")
    key = _get(Key, key_id, lock=True)
    if key.loans.filter(returned_at__isnull=True).exists():
        raise Conflict(f"key {key_id} is lent", fields={"key": ["return it first"]})
    key.delete()


def _borrower(user_id: int | None, username: str | None) -> AbstractBaseUser:
    users = get_user_model()._default_manager
    user = (
        users.filter(pk=user_id).first() if user_id is not None else users.filter(username=username).first()
    )
    field = "user_id" if user_id is not None else "username"
    if user is None:
        raise Invalid("unknown user", fields={field: ["no such user"]})
    if not user.is_active:
        raise Invalid("inactive user", fields={field: ["this user is inactive"]})
    return user


@transaction.atomic
def key_lend(*, actor: Actor, key_id: int, user_id: int | None = None, username: str | None = None) -> Loan:
    """Lends a key to one user (neither user_id nor username: the actor). Conflict when already lent."""
    caller = permissions.known(actor)
    if user_id is not None and username is not None:
        raise Invalid("give at most one of user_id and username", fields={"user_id": ["or username"]})
    # Locking the key serialises concurrent lends; the partial unique index stays the real guarantee.
    key = _get(Key, key_id, lock=True)
    if user_id is None and username is None:
        borrower = caller
    else:
        borrower = _borrower(user_id, username)
        permissions.require_may_lend(
            caller, borrower=borrower, field="user_id" if user_id is not None else "username"
        )
    if key.loans.filter(returned_at__isnull=True).exists():
        raise Conflict(f"key {key_id} is already lent")
    loan = Loan(key=key, borrower=borrower, lent_at=timezone.now())
    # Key and borrower were just read; the open-loan constraint was checked above and by the index.
    _clean(loan, exclude=["key", "borrower"], validate_constraints=False)
    with _integrity_is_conflict(f"key {key_id} is already lent"):
        loan.save()
    return loan


@transaction.atomic
def key_return(*, actor: Actor, key_id: int) -> Loan:
    """Gives a lent key back (staff: any key; others: their own loans). Conflict when it is not lent."""
    caller = permissions.known(actor)
    key = _get(Key, key_id, lock=True)
    loan = key.loans.select_for_update().filter(returned_at__isnull=True).first()
    if loan is None:
        raise Conflict(f"key {key_id} is not lent")
    permissions.require_may_return(caller, borrower_id=loan.borrower_id)
    loan.returned_at = timezone.now()
    loan.save(update_fields=["returned_at"])
    return loan
