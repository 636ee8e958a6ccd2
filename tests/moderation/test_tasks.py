"""Which errors a scoring task retries, and for how long."""

from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, ProgrammingError

from moderation import tasks


def retried(exc):
    return isinstance(exc, tuple(tasks.score_reviews.autoretry_for))


def test_transient_errors_are_retried():
    for exc in (
        OperationalError("server closed the connection"),
        InterfaceError("connection already closed"),
        ConnectionError("broker reset"),
        TimeoutError(),
    ):
        assert retried(exc), exc


def test_programming_errors_are_not_retried_forever():
    # a bug fails the same way on every run: retrying it would only fill the broker
    for exc in (ProgrammingError("no such column"), IntegrityError("duplicate key"), DatabaseError("generic")):
        assert not retried(exc), exc
    assert tasks.score_reviews.max_retries == tasks.MAX_RETRIES and 0 < tasks.MAX_RETRIES <= 20
    assert tasks.sweep_unscored.max_retries is not None


def test_the_worker_registers_every_task_by_name():
    """Celery finds the scoring tasks and the webhook deliveries through autodiscovery, not because
    some module happens to import another (a fresh interpreter, as a worker starts)."""
    import subprocess
    import sys

    code = (
        "import django, sys; django.setup()\n"
        "import moderation.tasks\n"
        "side_effect = 'moderation.webhooks' in sys.modules\n"
        "from hwadmin.celery import app\n"
        "app.loader.import_default_modules()\n"
        "print(side_effect, sorted(t for t in app.tasks if t.startswith('moderation.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == (
        "False ['moderation.tasks.export_onnx', 'moderation.tasks.score_reviews', 'moderation.tasks.sweep_unscored', "
        "'moderation.webhooks.deliver_webhook']"
    )
