from django.urls import path

from . import views

urlpatterns = [
    path("products/compare/", views.compare_page, name="product_compare"),
    path("products/<int:pk>/", views.product_page, name="product_attributes"),
]
