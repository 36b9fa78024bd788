"""DJANGO_COMPONENT=site (default): the public pages and the API in one process."""

from kubedefis_site.urls import api, handler400, handler403, handler404, handler500, public

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]

urlpatterns = api.urlpatterns + public.urlpatterns
