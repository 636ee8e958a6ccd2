"""manage.py register_attribute_model PATH [--name NAME] [--activate]
manage.py register_attribute_model --activate-id ID        (switch, or roll back, to a registered tagger)

PATH is a multi-label HuggingFace directory under HWADMIN_MODEL_DIR (config.json's id2label names each
output "<attribute id>:<pos|neg|present>"; an optional thresholds.json maps labels to thresholds; a
metrics.json is recorded). Activating a tagger makes the next extract_attributes run re-tag every review.
"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ...models import AttributeModel
from ...taggers import TaggerError, activate, check_electra_dir, taxonomy


class Command(BaseCommand):
    help = "Register (and optionally activate) an ELECTRA attribute tagger, or activate a registered one."

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?")
        parser.add_argument("--name")
        parser.add_argument("--activate", action="store_true")
        parser.add_argument("--activate-id", type=int)

    def handle(self, *args, **options):
        if options["activate_id"] is not None:
            model = AttributeModel.objects.filter(pk=options["activate_id"]).first()
            if model is None:
                raise CommandError(f"no attribute tagger #{options['activate_id']}")
            activate(model)
            self.stdout.write(f"activated {model}")
            return
        if not options["path"]:
            raise CommandError("give a model directory, or --activate-id ID")
        try:
            directory, labels, _ = check_electra_dir(options["path"])
        except TaggerError as exc:
            raise CommandError(str(exc)) from None
        metrics = {}
        if (directory / "metrics.json").exists():
            try:
                metrics = json.loads((directory / "metrics.json").read_text(encoding="utf-8"))
            except ValueError as exc:
                raise CommandError(f"{options['path']}: metrics.json is not valid JSON: {exc}") from None
        model = AttributeModel.objects.create(
            name=options["name"] or Path(directory).name,
            kind=AttributeModel.Kind.ELECTRA,
            path=str(directory),
            taxonomy_version=taxonomy()[0],
            metrics=metrics,
        )
        self.stdout.write(f"registered {model} with {len(labels)} labels")
        if options["activate"]:
            activate(model)
            self.stdout.write(f"activated {model}")
