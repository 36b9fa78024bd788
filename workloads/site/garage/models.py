"""Garages, their cars (voitures), car keys (clés) and the loans of those keys to users."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

PLATE_VALIDATOR = RegexValidator(
    r"^[A-Z0-9][A-Z0-9 -]{0,14}[A-Z0-9]$", "Plate: 2-16 capital letters, digits, spaces or dashes."
)


class Garage(models.Model):
    name = models.CharField(max_length=100, unique=True)
    city = models.CharField(max_length=100)
    address = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.city})"


class Car(models.Model):
    # Défi 20: the column `make` becomes `brand` in stages (garage/schema_stage.py).
    if settings.KUBEDEFIS_SCHEMA_STAGE == "initial":
        make = models.CharField(max_length=50)
    elif settings.KUBEDEFIS_SCHEMA_STAGE == "expand":
        make = models.CharField(max_length=50, null=True)
        brand = models.CharField(max_length=50, null=True)
    else:
        brand = models.CharField(max_length=50)
    model = models.CharField(max_length=50)
    plate = models.CharField(max_length=16, unique=True, validators=[PLATE_VALIDATOR])
    year = models.PositiveSmallIntegerField(validators=[MinValueValidator(1886), MaxValueValidator(2100)])
    garage = models.ForeignKey(Garage, on_delete=models.PROTECT, related_name="cars")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "voiture"
        indexes = [models.Index(fields=["-created_at", "-id"], name="car_newest_idx")]

    def __str__(self) -> str:
        return f"{self.make} {self.model} [{self.plate}]"


class Key(models.Model):
    # One key per car: the key is what gets lent, the car stays in its garage.
    car = models.OneToOneField(Car, on_delete=models.CASCADE, related_name="key")
    colour = models.CharField(max_length=30)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "clé"

    def __str__(self) -> str:
        return f"clé {self.colour} #{self.pk}"


class Loan(models.Model):
    """A key lent to a user; open while returned_at is NULL."""

    key = models.ForeignKey(Key, on_delete=models.CASCADE, related_name="loans")
    borrower = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="key_loans")
    lent_at = models.DateTimeField()
    returned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-lent_at", "-id"]
        verbose_name = "prêt"
        constraints = [
            # The database, not a form, guarantees that a key is lent to one user at a time.
            models.UniqueConstraint(
                fields=["key"],
                condition=Q(returned_at__isnull=True),
                name="loan_one_open_per_key",
                violation_error_message="This key is already lent.",
            ),
            models.CheckConstraint(
                condition=Q(returned_at__isnull=True) | Q(returned_at__gte=models.F("lent_at")),
                name="loan_returned_after_lent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} -> {self.borrower_id}"

    @property
    def is_open(self) -> bool:
        return self.returned_at is None


class DataVersion(models.Model):
    """A single row bumped in the same transaction as every write.

    Cached pages are keyed by it, so a cache entry can never outlive the data it was built from,
    whatever the number of pods or whether Redis is shared.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    version = models.BigIntegerField(default=1)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="dataversion_single_row")]

    def __str__(self) -> str:
        return f"data version {self.version}"
