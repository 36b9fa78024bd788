"""DJANGO_COMPONENT=api: only the JSON API (health probes are answered by middleware)."""

from django.urls import path

from api.api import api
from kubedefis_site.urls import handler400, handler403, handler404, handler500

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]

urlpatterns = [path("api/", api.urls)]
