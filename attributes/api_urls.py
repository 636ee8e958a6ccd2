from django.urls import path

from .api import ProductAttributesView

urlpatterns = [
    path("products/<str:external_id>/attributes", ProductAttributesView.as_view(), name="api-product-attributes"),
]
