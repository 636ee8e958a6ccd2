"""manage.py score_pending: queue every visible review the active classifier has not scored."""

from django.core.management.base import BaseCommand, CommandError

from moderation.models import Check, Classifier
from moderation.tasks import queue_unscored


class Command(BaseCommand):
    help = "Queue scoring for every visible review with no score from its check's active classifier."

    def add_arguments(self, parser):
        parser.add_argument("--check", help="only this check (default: every check with an active classifier)")
        parser.add_argument(
            "--now",
            action="store_true",
            help="score in this process instead of queueing tasks for the workers",
        )

    def handle(self, *args, **options):
        code = options["check"]
        if code and not Check.objects.filter(code=code).exists():
            raise CommandError(f"no check {code!r}; checks: {', '.join(Check.objects.values_list('code', flat=True))}")
        active = Classifier.objects.filter(is_active=True)
        if code:
            active = active.filter(moderation_check__code=code)
        if not active.exists():
            raise CommandError(
                "no classifier is active, so there is nothing to score with; run "
                "`manage.py register_classifier --check unused MODEL_DIR --activate` first"
            )
        if options["now"]:
            from moderation.scoring import score_pending_now

            written = score_pending_now(code, progress=True)
            self.stdout.write(f"{written} reviews scored")
            return
        queued = queue_unscored(code)
        self.stdout.write(f"{queued} reviews queued for scoring")
