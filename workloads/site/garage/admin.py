from django.contrib import admin

from garage.models import Car, Garage, Key, Loan
from garage.schema_stage import brand_names

BRAND = brand_names()[-1]  # the model field of this schema stage (défi 20)


@admin.register(Garage)
class GarageAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "city", "created_at")
    search_fields = ("name", "city")


@admin.register(Car)
class CarAdmin(admin.ModelAdmin):
    list_display = ("id", "plate", BRAND, "model", "year", "garage")
    list_select_related = ("garage",)
    list_filter = ("garage",)
    search_fields = ("plate", BRAND, "model")
    raw_id_fields = ("garage",)


@admin.register(Key)
class KeyAdmin(admin.ModelAdmin):
    list_display = ("id", "colour", "car")
    list_select_related = ("car",)
    search_fields = ("car__plate", "colour")
    raw_id_fields = ("car",)


@admin.register(Loan)
class LoanAdmin(admin.ModelAdmin):
    list_display = ("id", "key", "borrower", "lent_at", "returned_at")
    list_select_related = ("key", "borrower")
    list_filter = (("returned_at", admin.EmptyFieldListFilter),)
    raw_id_fields = ("key", "borrower")
