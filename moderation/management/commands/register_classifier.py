"""manage.py register_classifier --check unused PATH [--activate]"""

from django.core.management.base import BaseCommand, CommandError

from moderation.registry import GateRefusal, RegistrationError, register


class Command(BaseCommand):
    help = "Register a HuggingFace sequence-classification model directory as a classifier for a check."

    def add_arguments(self, parser):
        parser.add_argument("path", help="model directory (config.json, model.safetensors, tokenizer.json)")
        parser.add_argument("--check", default="unused", help="check code (default: unused)")
        parser.add_argument("--name", help="display name (default: the directory name)")
        parser.add_argument(
            "--activate",
            action="store_true",
            help="make it the check's active classifier and rescore the queue "
            "(refused when its AP on the labelled test split is below the "
            "active classifier's)",
        )
        parser.add_argument("--force", action="store_true", help="with --activate: activate even if the gate refuses")
        parser.add_argument(
            "--onnx",
            choices=["now", "later", "skip"],
            default="now",
            help="build and verify the int8 ONNX model now (default), in a Celery task after "
            "registering (registration takes seconds; workers use torch until it is verified), "
            "or not at all",
        )
        parser.add_argument(
            "--data",
            help="labelled set (labelled-set JSONL) whose test split gates registration "
            "(default for the unused check: data/labelled/unused/reviews.jsonl)",
        )

    def handle(self, *args, **options):
        try:
            classifier = register(
                options["check"],
                options["path"],
                options["name"],
                options["activate"],
                force=options["force"],
                data_path=options["data"],
                log=self.stdout.write,
                onnx=options["onnx"],
            )
        except GateRefusal as exc:
            raise CommandError(str(exc)) from None
        except RegistrationError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"registered classifier #{classifier.pk} {classifier.name!r} for check {options['check']!r}")
        self.stdout.write(f"  path: {classifier.path}")
        if "_gate" not in classifier.metrics:
            self.stdout.write(f"  no labelled set for the check {options['check']!r}: not gated (pass --data)")
        if classifier.is_active:
            self.stdout.write("  active: yes; visible reviews are queued for rescoring")
        else:
            self.stdout.write(f"  active: no; activate with `manage.py activate_classifier {classifier.pk}`")
