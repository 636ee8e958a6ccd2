from django.contrib import admin
from django.urls import include, path

from moderation.health import healthz
from moderation.metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    # For load balancers and Prometheus: no login (README, "Running in production").
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("api/v1/", include("moderation.api.urls")),
    path("api/v1/", include("attributes.api_urls")),
    # The header's language switch: POST language=ko|en to set_language (CSRF-protected; sets the cookie).
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("moderation.urls")),
    path("", include("attributes.urls")),
]
