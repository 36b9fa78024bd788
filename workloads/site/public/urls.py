from django.conf import settings
from django.urls import path

from public import views

app_name = "public"

urlpatterns = [
    path("", views.home, name="home"),
    path("garages/", views.garage_list, name="garage_list"),
    path("garages/<int:garage_id>/", views.garage_detail, name="garage_detail"),
    path("voitures/", views.car_list, name="car_list"),
    path("voitures/<int:car_id>/", views.car_detail, name="car_detail"),
    path("cles/", views.key_list, name="key_list"),
    path("cles/<int:key_id>/", views.key_detail, name="key_detail"),
    path("cles/<int:key_id>/preter/", views.key_lend, name="key_lend"),
    path("cles/<int:key_id>/rendre/", views.key_return, name="key_return"),
]

# Défi 8: the page the new version (v2) adds; the v1 image does not serve it (404).
if settings.SITE_VERSION == "v2":
    urlpatterns.append(path("nouveautes/", views.whats_new, name="whats_new"))
