"""manage.py export_onnx ID [--data PATH]: (re)build a registered classifier's int8 ONNX model."""

from django.core.management.base import BaseCommand, CommandError

from moderation.models import Classifier
from moderation.registry import export_int8
from moderation.scoring import ModelLoadError


class Command(BaseCommand):
    help = (
        "Export a registered classifier to ONNX, quantise it to int8 (model.int8.onnx in its directory) and "
        "verify it on the check's labelled test split; registration does this for new classifiers."
    )

    def add_arguments(self, parser):
        parser.add_argument("classifier_id", type=int)
        # register_classifier's --data has this shape too: there the set gates registration, here it verifies the model.
        parser.add_argument(
            "--data",
            help="labelled set (labelled-set JSONL) whose test split verifies the int8 model "
            "(default for the unused check: data/labelled/unused/reviews.jsonl)",
        )

    def handle(self, *args, **options):
        try:
            classifier = Classifier.objects.select_related("moderation_check").get(pk=options["classifier_id"])
        except Classifier.DoesNotExist:
            listing = ", ".join(f"#{c.pk} {c.name}" for c in Classifier.objects.order_by("pk")) or "none registered"
            raise CommandError(f"no classifier #{options['classifier_id']} (classifiers: {listing})") from None
        try:
            report = export_int8(classifier, options["data"], log=self.stdout.write)
        except ModelLoadError as exc:
            raise CommandError(str(exc)) from None
        if report.get("error"):
            raise CommandError(f"classifier #{classifier.pk}: the int8 export failed; workers keep the torch runtime")
        self.stdout.write(
            f"classifier #{classifier.pk} {classifier.name!r}: recorded; workers that already loaded it "
            f"keep their runtime until they restart"
        )
