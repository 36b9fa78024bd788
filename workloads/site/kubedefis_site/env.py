"""Typed readers for settings that come only from the environment.

A missing or malformed variable raises ImproperlyConfigured with one line naming it.
"""

import os
from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


class Env:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self._environ.get(name)
        if value is None or value.strip() == "":
            return default
        return value.strip()

    def required(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise ImproperlyConfigured(f"Missing required environment variable {name}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.get(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in TRUE_WORDS:
            return True
        if lowered in FALSE_WORDS:
            return False
        raise ImproperlyConfigured(f"Environment variable {name} must be true or false, got {value!r}")

    def integer(self, name: str, default: int, *, minimum: int = 0) -> int:
        value = self.get(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ImproperlyConfigured(
                f"Environment variable {name} must be an integer, got {value!r}"
            ) from None
        if number < minimum:
            raise ImproperlyConfigured(f"Environment variable {name} must be >= {minimum}, got {number}")
        return number

    def csv(self, name: str, *, required: bool = False) -> list[str]:
        value = self.required(name) if required else self.get(name, "")
        return [item.strip() for item in (value or "").split(",") if item.strip()]

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = (self.get(name) or default).lower()
        if value not in choices:
            raise ImproperlyConfigured(
                f"Environment variable {name} must be one of {', '.join(choices)}, got {value!r}"
            )
        return value
