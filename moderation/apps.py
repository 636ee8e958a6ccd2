from pathlib import Path

from django.apps import AppConfig
from django.conf import settings


def make_working_folders():
    """The folders the embedded defaults write to: the SQLite file's and the file broker's.

    Made when the app starts (every process: web, worker, manage.py), not when the settings are
    read, so that importing the settings touches no disk.
    """
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3") and str(database["NAME"]) != ":memory:":
        Path(database["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)


class ModerationConfig(AppConfig):
    name = "moderation"
    verbose_name = "Moderation"

    def ready(self):
        make_working_folders()
        from celery.signals import beat_init, worker_init

        from hwadmin.threads import record_pool

        from . import checks

        worker_init.connect(checks.refuse_worker_start, weak=False, dispatch_uid="hwadmin-webhook-check")
        worker_init.connect(record_pool, weak=False, dispatch_uid="hwadmin-record-pool")
        beat_init.connect(checks.refuse_worker_start, weak=False, dispatch_uid="hwadmin-webhook-check-beat")
