from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

# One route a line: the repeated shape is the URL table's, no logic repeats.
urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("queue/", views.queue_start, name="queue_start"),
    path("queue/<slug:check>/", views.queue_page, name="queue"),
    path("queue/<slug:check>/decide", views.decide, name="decide"),
    path("queue/<slug:check>/blind-above", views.blind_above, name="blind_above"),
    path("queue/<slug:check>/release", views.release, name="release"),
    path("queue/<slug:check>/blinded", views.blinded, name="blinded"),
    path("queue/<slug:check>/unblind", views.unblind, name="unblind"),
    path("undo", views.undo, name="undo"),
    path("reviews/<int:pk>/", views.review_page, name="review"),
    path("audit/", views.audit_page, name="audit"),
    path("audit.csv", views.audit_csv, name="audit_csv"),
    path("dashboard/", views.dashboard_start, name="dashboard_start"),
    path("dashboard/<slug:check>/", views.dashboard_page, name="dashboard"),
]
