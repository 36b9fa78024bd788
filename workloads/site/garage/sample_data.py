"""Deterministic sample data: the same --size always yields the same rows, so loading is idempotent."""

from dataclasses import dataclass
from datetime import timedelta
from string import ascii_uppercase

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from garage import schema_stage
from garage.models import Car, Garage, Key, Loan
from garage.versioning import bump_data_version

CITIES = ("Évry", "Paris", "Palaiseau", "Lyon", "Lille", "Nantes", "Rennes", "Toulouse", "Marseille", "Brest")
CARS = (
    ("Renault", "Clio"),
    ("Renault", "Zoe"),
    ("Peugeot", "208"),
    ("Peugeot", "3008"),
    ("Citroën", "C3"),
    ("Dacia", "Sandero"),
    ("Toyota", "Yaris"),
    ("Volkswagen", "Golf"),
    ("Tesla", "Model 3"),
    ("Fiat", "500"),
)
COLOURS = ("rouge", "bleu", "vert", "noir", "jaune", "argent")
USER_PREFIX = "conducteur"


@dataclass(frozen=True)
class Size:
    garages: int
    cars: int
    users: int


SIZES = {"small": Size(garages=4, cars=200, users=10), "large": Size(garages=20, cars=5000, users=50)}


def plate(index: int) -> str:
    """A unique French-looking plate (AA-123-AA) for each index below 676 000."""
    prefix = ascii_uppercase[(index // 26000) % 26] + ascii_uppercase[(index // 1000) % 26]
    suffix = ascii_uppercase[(index * 7) % 26] + ascii_uppercase[(index * 11) % 26]
    return f"{prefix}-{index % 1000:03d}-{suffix}"


def garage_name(index: int) -> str:
    return f"Garage {CITIES[index % len(CITIES)]} {index + 1}"


@transaction.atomic
def reset() -> dict[str, int]:
    deleted = {
        "loans": Loan.objects.all().delete()[0],
        "keys": Key.objects.all().delete()[0],
        "cars": Car.objects.all().delete()[0],
        "garages": Garage.objects.all().delete()[0],
        "users": get_user_model()._default_manager.filter(username__startswith=USER_PREFIX).delete()[0],
    }
    bump_data_version()
    return deleted


@transaction.atomic
def load(size: Size) -> None:
    users_model = get_user_model()
    unusable = make_password(None)
    users_model._default_manager.bulk_create(
        [users_model(username=f"{USER_PREFIX}{i:03d}", password=unusable) for i in range(size.users)],
        ignore_conflicts=True,
    )
    Garage.objects.bulk_create(
        [
            Garage(name=garage_name(i), city=CITIES[i % len(CITIES)], address=f"{i + 1} rue Charles Fourier")
            for i in range(size.garages)
        ],
        ignore_conflicts=True,
    )
    garage_ids = dict(
        Garage.objects.filter(name__in=[garage_name(i) for i in range(size.garages)]).values_list(
            "name", "id"
        )
    )
    Car.objects.bulk_create(
        [
            Car(
                **schema_stage.car_columns(CARS[i % len(CARS)][0]),
                model=CARS[i % len(CARS)][1],
                plate=plate(i),
                year=1995 + (i * 7) % 30,
                garage_id=garage_ids[garage_name(i % size.garages)],
            )
            for i in range(size.cars)
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )
    plates = [plate(i) for i in range(size.cars)]
    keyless = Car.objects.filter(plate__in=plates, key__isnull=True).values_list("id", flat=True)
    Key.objects.bulk_create(
        [Key(car_id=car_id, colour=COLOURS[car_id % len(COLOURS)]) for car_id in keyless], batch_size=1000
    )
    sample_users = users_model._default_manager.filter(username__startswith=USER_PREFIX).order_by("id")
    _load_loans(plates, list(sample_users.values_list("id", flat=True)))
    bump_data_version()


def _load_loans(plates: list[str], user_ids: list[int]) -> None:
    if not user_ids:
        return
    never_lent = (
        Key.objects.filter(car__plate__in=plates, loans__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)
    )
    now = timezone.now()
    loans = []
    for key_id in never_lent:
        borrower = user_ids[key_id % len(user_ids)]
        lent_at = now - timedelta(days=key_id % 60 + 1)
        if key_id % 5 == 1:  # a returned loan in the history
            loans.append(
                Loan(
                    key_id=key_id,
                    borrower_id=borrower,
                    lent_at=lent_at,
                    returned_at=lent_at + timedelta(hours=8),
                )
            )
        if key_id % 8 == 0:  # currently lent
            loans.append(
                Loan(key_id=key_id, borrower_id=borrower, lent_at=now - timedelta(hours=key_id % 48))
            )
    Loan.objects.bulk_create(loans, batch_size=1000)
