"""manage.py register_classifier --check unused PATH [--activate]"""

from django.core.management.base import BaseCommand, CommandError

from moderation.registry import RegistrationError, register


class Command(BaseCommand):
    help = "Register a HuggingFace sequence-classification model directory as a classifier for a check."

    def add_arguments(self, parser):
        parser.add_argument("path", help="model directory (config.json, model.safetensors, tokenizer.json)")
        parser.add_argument("--check", default="unused", help="check code (default: unused)")
        parser.add_argument("--name", help="display name (default: the directory name)")
        parser.add_argument(
            "--activate", action="store_true", help="make it the check's active classifier and rescore the queue"
        )

    def handle(self, *args, **options):
        try:
            classifier = register(options["check"], options["path"], options["name"], options["activate"])
        except RegistrationError as exc:
            raise CommandError(str(exc)) from None
        metrics = {k: v for k, v in classifier.metrics.items() if not k.startswith("_")}
        self.stdout.write(f"registered classifier #{classifier.pk} {classifier.name!r} for check {options['check']!r}")
        self.stdout.write(f"  path: {classifier.path}")
        self.stdout.write(f"  metrics: {metrics or 'none (no metrics.json in the directory)'}")
        if classifier.is_active:
            self.stdout.write("  active: yes; visible reviews are queued for rescoring")
        else:
            self.stdout.write(f"  active: no; activate with `manage.py activate_classifier {classifier.pk}`")
