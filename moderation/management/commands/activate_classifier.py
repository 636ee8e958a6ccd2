"""manage.py activate_classifier ID: switch a check to a registered classifier (or roll back)."""

from django.core.management.base import BaseCommand, CommandError

from moderation.models import Classifier
from moderation.registry import activate_classifier


class Command(BaseCommand):
    help = "Make a registered classifier the active one for its check and queue the rescore."

    def add_arguments(self, parser):
        parser.add_argument("classifier_id", type=int)

    def handle(self, *args, **options):
        try:
            classifier = Classifier.objects.get(pk=options["classifier_id"])
        except Classifier.DoesNotExist:
            listing = ", ".join(f"#{c.pk} {c.name}" for c in Classifier.objects.order_by("pk")) or "none registered"
            raise CommandError(f"no classifier #{options['classifier_id']} (classifiers: {listing})") from None
        activate_classifier(classifier)
        self.stdout.write(
            f"classifier #{classifier.pk} {classifier.name!r} is now active for {classifier.moderation_check.code!r}; "
            "visible reviews it has not scored are queued"
        )
