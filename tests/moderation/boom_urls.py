"""The project's URLs plus one view that fails: what a server error shows (tests/moderation/test_production_defaults.py)."""

from django.urls import path

from hwadmin.urls import urlpatterns as project_urlpatterns


def boom(request):
    raise RuntimeError("an unexpected failure inside a view")


urlpatterns = [path("boom/", boom), *project_urlpatterns]
