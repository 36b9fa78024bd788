"""`manage.py load_sample --size small|large [--reset]`: idempotent sample data."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from garage import sample_data, selectors


class Command(BaseCommand):
    help = "Load deterministic sample garages, cars, keys, users and loans (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--size", choices=sorted(sample_data.SIZES), default="small")
        parser.add_argument("--reset", action="store_true", help="delete all garage data first")

    def handle(self, *args: Any, size: str, reset: bool, **options: Any) -> None:
        if reset:
            deleted = sample_data.reset()
            self.stdout.write(f"deleted {deleted}")
        sample_data.load(sample_data.SIZES[size])
        self.stdout.write(f"sample data ({size}) loaded: {selectors.stats()}")
