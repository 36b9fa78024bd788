"""Request and response bodies. Inputs are strict: unknown fields and wrong JSON types are a 422."""

from datetime import datetime
from typing import Annotated, Any, Self

from django.conf import settings
from ninja import Schema
from pydantic import AfterValidator, ConfigDict, Field, model_validator

from garage.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

MAX_ID = 2**63 - 1  # PostgreSQL bigint: a larger id could only ever be a 404
MAX_PAGE = 1_000_000


def _storable(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and lone surrogates cannot be encoded to UTF-8.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


Storable = AfterValidator(_storable)
Name = Annotated[str, Field(min_length=1, max_length=100), Storable]
Address = Annotated[str, Field(max_length=200), Storable]
Word = Annotated[str, Field(min_length=1, max_length=50), Storable]
Plate = Annotated[str, Field(min_length=2, max_length=16, examples=["AB-123-CD"]), Storable]
Colour = Annotated[str, Field(min_length=1, max_length=30), Storable]
Username = Annotated[str, Field(min_length=1, max_length=150), Storable]


Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Year = Annotated[int, Field(ge=1886, le=2100)]


class Input(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)


class ErrorOut(Schema):
    message: str
    fields: dict[str, Any]


class PageQuery(Schema):
    page: int = Field(1, ge=1, le=MAX_PAGE, description="1-based page number")
    if settings.NAIVE:
        # Défi 17: the course reference's lists, everything at once unless a size is given.
        page_size: int | None = Field(None, ge=1, description="items per page (none: every item)")
    else:
        page_size: int = Field(
            DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description=f"items per page, at most {MAX_PAGE_SIZE}"
        )


class CarQuery(PageQuery):
    garage_id: Id | None = Field(None, description="only the cars of this garage")


class KeyQuery(PageQuery):
    lent: bool | None = Field(None, description="only lent (true) or available (false) keys")


class PageOut(Schema):
    count: int
    page: int
    page_size: int
    pages: int
    next: int | None
    previous: int | None


# Garages


class GarageIn(Input):
    name: Name
    city: Name
    address: Address = ""


class GaragePatch(Input):
    name: Name | None = None
    city: Name | None = None
    address: Address | None = None


class GarageOut(Schema):
    id: int
    name: str
    city: str
    address: str
    car_count: int
    created_at: datetime


class GaragePage(PageOut):
    results: list[GarageOut]


# Cars


if settings.KUBEDEFIS_SCHEMA_STAGE == "initial":

    class CarBrand(Input):
        make: Word

    class CarBrandPatch(Input):
        make: Word | None = None

    class CarBrandOut(Schema):
        make: str

else:
    # Défi 20: `make` is being renamed `brand`; during the transition the API takes either name
    # (both must then agree) and shows both.

    class CarBrand(Input):
        make: Word | None = Field(None, description="deprecated name of `brand`")
        brand: Word | None = None

        @model_validator(mode="after")
        def one_brand(self) -> Self:
            if self.make is None and self.brand is None:
                raise ValueError("give brand (or its former name make)")
            if self.make is not None and self.brand is not None and self.make != self.brand:
                raise ValueError("make and brand differ: give one of them")
            return self

    class CarBrandPatch(Input):
        make: Word | None = Field(None, description="deprecated name of `brand`")
        brand: Word | None = None

    class CarBrandOut(Schema):
        make: str = Field(description="deprecated name of `brand`")
        brand: str


class CarFields(CarBrand):
    model: Word
    plate: Plate
    year: Year
    garage_id: Id


class CarIn(CarFields):
    key_colour: Colour | None = Field(None, description="also create the car's key")


class CarPatch(CarBrandPatch):
    model: Word | None = None
    plate: Plate | None = None
    year: Year | None = None
    garage_id: Id | None = None


class CarOut(CarBrandOut):
    id: int
    model: str
    plate: str
    year: int
    garage_id: int
    garage_name: str
    key_id: int | None
    created_at: datetime


class CarPage(PageOut):
    results: list[CarOut]


# Keys and loans


class KeyIn(Input):
    car_id: Id
    colour: Colour


class KeyPatch(Input):
    colour: Colour


class KeyOut(Schema):
    id: int
    colour: str
    car_id: int
    car_plate: str
    lent: bool
    borrower_id: int | None
    borrower_username: str | None
    lent_at: datetime | None
    created_at: datetime


class LoanOut(Schema):
    id: int
    borrower_id: int
    borrower_username: str
    lent_at: datetime
    returned_at: datetime | None


class KeyDetailOut(KeyOut):
    loans: list[LoanOut] = Field(description="the most recent loans first")


class KeyPage(PageOut):
    results: list[KeyOut]


class LendIn(Input):
    """The borrower, by `user_id` or `username` (at most one); `{}` lends the key to the caller.

    Only staff lend keys to other users."""

    user_id: Id | None = None
    username: Username | None = None

    @model_validator(mode="after")
    def at_most_one_user(self) -> Self:
        if self.user_id is not None and self.username is not None:
            raise ValueError("give at most one of user_id and username")
        return self


# Users and stats


class UserOut(Schema):
    id: int
    username: str
    is_staff: bool
    is_active: bool


class UserPage(PageOut):
    results: list[UserOut]


class StatsOut(Schema):
    garages: int
    cars: int
    keys: int
    loans: int
    open_loans: int
    users: int
