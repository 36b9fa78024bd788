"""DJANGO_COMPONENT=public: HTML pages, sign-in and the admin; no /api/."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from kubedefis_site.urls import handler400, handler403, handler404, handler500
from public.forms import AdminLoginForm, LoginForm

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]

# Both sign-in forms say how long to wait once the failed-attempt budget is spent.
admin.site.login_form = AdminLoginForm

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(authentication_form=LoginForm), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("public.urls")),
]
