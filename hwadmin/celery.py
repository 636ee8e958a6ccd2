"""The Celery app. Workers import torch lazily, when they first score."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hwadmin.settings")

app = Celery("hwadmin")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
