from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from . import views

urlpatterns = [
    path("reviews", views.ReviewIngestView.as_view(), name="api-reviews"),
    path("products/<str:external_id>/reviews", views.ProductReviewsView.as_view(), name="api-product-reviews"),
    path("schema", SpectacularAPIView.as_view(), name="api-schema"),
]
