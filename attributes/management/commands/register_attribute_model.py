"""manage.py register_attribute_model PATH [--name NAME] [--activate]
manage.py register_attribute_model --activate-id ID        (switch, or roll back, to a registered tagger)

PATH is a back-off tagger directory (`manage.py build_attribute_tagger`: backoff.json and
backoff.safetensors) or a multi-label HuggingFace directory (config.json's id2label names each output
"<attribute id>:<pos|neg|present>"; an optional thresholds.json maps labels to thresholds). A directory
outside HWADMIN_MODEL_DIR is copied in first (as register_classifier does); a metrics.json is recorded.
Activating a tagger makes the next extract_attributes run re-tag every review.
"""

import json
import shutil
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ...models import AttributeModel
from ...taggers import TaggerError, activate, check_backoff_dir, check_electra_dir, taxonomy


def _backoff_files(directory, path):
    from moderation.scoring import ModelLoadError
    from plm.attribute_backoff import CONFIG_FILE, WEIGHTS_FILE

    missing = [name for name in (CONFIG_FILE, WEIGHTS_FILE) if not (directory / name).is_file()]
    if missing:
        raise ModelLoadError(f"{path}: no {' or '.join(missing)}, so this is not a back-off tagger directory")


class Command(BaseCommand):
    help = (
        "Register (and optionally activate) a back-off or ELECTRA attribute tagger directory, or activate a "
        "registered one."
    )

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
        from moderation.registry import RegistrationError, import_model_dir
        from plm.attribute_backoff import PARTNER_DIR, is_backoff_dir

        backoff = is_backoff_dir(options["path"])
        name = options["name"] or Path(options["path"]).expanduser().resolve().name
        try:
            directory, copied = import_model_dir(
                "attributes",
                options["path"],
                name,
                log=self.stdout.write,
                check_files=_backoff_files if backoff else None,
                subdirectories=(PARTNER_DIR,) if backoff else (),
            )
        except RegistrationError as exc:
            raise CommandError(str(exc)) from None
        try:
            if backoff:
                directory, tagger = check_backoff_dir(directory)
                labels = tagger.layout
            else:
                directory, labels, _ = check_electra_dir(directory)
        except TaggerError as exc:
            if copied:  # the copy of a directory that does not fit is not left behind
                shutil.rmtree(directory, ignore_errors=True)
            raise CommandError(str(exc).replace(str(directory), options["path"])) from None
        metrics = {}
        if (directory / "metrics.json").exists():
            try:
                metrics = json.loads((directory / "metrics.json").read_text(encoding="utf-8"))
            except ValueError as exc:
                raise CommandError(f"{options['path']}: metrics.json is not valid JSON: {exc}") from None
        model = AttributeModel.objects.create(
            name=name,
            kind=AttributeModel.Kind.BACKOFF if backoff else AttributeModel.Kind.ELECTRA,
            path=str(directory),
            taxonomy_version=taxonomy()[0],
            metrics=metrics,
        )
        self.stdout.write(f"registered {model} with {len(labels)} labels")
        if options["activate"]:
            activate(model)
            self.stdout.write(f"activated {model}")
