"""System checks: refuse to start with an unsafe webhook configuration.

`manage.py check` (and every command that runs the checks: runserver,
migrate, ...) reports each problem as an error; a Celery worker or beat
process exits at start-up with the same messages (`refuse_worker_start`).
"""

from django.core import checks

WEBHOOK_TAG = "hwadmin_webhook"


@checks.register(WEBHOOK_TAG)
def webhook_configuration(app_configs=None, **kwargs):
    from .webhooks import coded_problems

    return [
        checks.Error(
            message, hint="Fix the HWADMIN_WEBHOOK_* environment variables, or unset HWADMIN_WEBHOOK_URL.", id=code
        )
        for code, message in coded_problems()
    ]


def refuse_unsafe_start(process="this process"):
    """Stop a process (web, worker, beat) whose webhook configuration is unsafe, with the checks' messages."""
    errors = webhook_configuration()
    if errors:
        # SystemExit passes through Celery's signal dispatch (which swallows Exception) and stops a
        # gunicorn worker at boot, so the server exits instead of serving.
        raise SystemExit(
            f"hwadmin refuses to start {process}: the webhook configuration is unsafe:\n"
            + "\n".join(f"  {error.id}: {error.msg}" for error in errors)
        )


def refuse_worker_start(**kwargs):
    """worker_init / beat_init receiver: stop the process when the webhook is misconfigured."""
    refuse_unsafe_start("the Celery process")
