from django.urls import path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import IsAuthenticated

from . import queue_views, views

urlpatterns = [
    path("reviews", views.ReviewIngestView.as_view(), name="api-reviews"),
    path("products/<str:external_id>/reviews", views.ProductReviewsView.as_view(), name="api-product-reviews"),
    path("queue", queue_views.QueueView.as_view(), name="api-queue"),
    path("actions", queue_views.ActionsView.as_view(), name="api-actions"),
    # The schema maps every operation and parameter: signed-in accounts (reviewers, ingest tokens) only.
    path("schema", SpectacularAPIView.as_view(permission_classes=[IsAuthenticated]), name="api-schema"),
]
