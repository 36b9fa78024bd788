from django.apps import AppConfig


class GarageConfig(AppConfig):
    name = "garage"
    verbose_name = "Garage"

    def ready(self) -> None:
        from garage import signals

        signals.connect()
