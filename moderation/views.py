"""Reviewer pages (server-rendered)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from .selectors import pipeline_status


@login_required
def home(request):
    return render(request, "moderation/home.html", {"status": pipeline_status()})
