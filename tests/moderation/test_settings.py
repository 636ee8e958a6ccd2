"""Reading the settings touches no disk; starting the app makes the embedded defaults' folders."""

import os
import subprocess
import sys


def test_importing_the_settings_creates_no_folder_and_starting_the_app_does(tmp_path):
    var = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(HWADMIN_VAR_DIR=str(var), DJANGO_SETTINGS_MODULE="hwadmin.settings")
    code = (
        "import os, django\n"
        "from django.conf import settings\n"
        "settings.INSTALLED_APPS\n"  # reads (imports) the settings module
        "print(os.path.exists(os.environ['HWADMIN_VAR_DIR']))\n"
        "django.setup()\n"
        "print(sorted(os.listdir(os.environ['HWADMIN_VAR_DIR'])), sorted(os.listdir(os.environ['HWADMIN_VAR_DIR'] + '/broker')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    before, after = out.strip().split("\n")
    assert before == "False"
    assert "broker" in after and "['control', 'out', 'processed']" in after


def test_the_embedded_broker_takes_a_task_without_a_warning(tmp_path):
    """`make demo`'s broker: a task sent on the filesystem transport lands in var/broker, and nothing is logged
    above INFO (kombu warned "No hostname was supplied" at every send when the URL named no host)."""
    var = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(HWADMIN_VAR_DIR=str(var), DJANGO_SETTINGS_MODULE="hwadmin.settings", DEBUG="1")
    code = (
        "import django\n"
        "django.setup()\n"
        "from moderation.tasks import sweep_unscored\n"
        "print('sent', sweep_unscored.delay().id)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    task_id = run.stdout.split()[-1]
    assert [p for p in (var / "broker" / "out").iterdir() if task_id in p.read_text()], "the task is not on the broker"
    logged = run.stdout + run.stderr
    assert " WARNING " not in logged and " ERROR " not in logged, logged
