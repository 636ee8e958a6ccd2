"""The Celery app. Workers import torch lazily, when they first score."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hwadmin.settings")

app = Celery("hwadmin")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each app's tasks.py, and the webhook deliveries (moderation/webhooks.py), by name rather than by a
# side-effect import somewhere else.
app.autodiscover_tasks()
app.autodiscover_tasks(related_name="webhooks")
