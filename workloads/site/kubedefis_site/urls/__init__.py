"""One URLconf per DJANGO_COMPONENT; settings.ROOT_URLCONF picks the module."""

handler400 = "kubedefis_site.error_views.bad_request"
handler403 = "kubedefis_site.error_views.permission_denied"
handler404 = "kubedefis_site.error_views.page_not_found"
handler500 = "kubedefis_site.error_views.server_error"
