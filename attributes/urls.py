from django.urls import path

from . import views

urlpatterns = [
    path("products/", views.product_list, name="product_list"),
    path("products/compare/", views.compare_page, name="product_compare"),
    path("products/<int:pk>/", views.product_page, name="product_attributes"),
]
