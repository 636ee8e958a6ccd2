"""manage.py demo_setup: a reviewer account and the sample reviews, for a first look."""

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand

from moderation.models import Classifier, Review
from moderation.scoring import inside_model_root

SHIPPED_MODEL = Path(settings.BASE_DIR) / "models" / "unused-electra"
SHIPPED_ATTRIBUTE_TAGGER = Path(settings.BASE_DIR) / "models" / "attributes-backoff"


class Command(BaseCommand):
    help = (
        "Create a reviewer account (password printed), load data/sample/reviews.jsonl, and register and "
        "activate the shipped unused classifier (models/unused-electra, copied into HWADMIN_MODEL_DIR) when the "
        "check has no active one it can load; and the shipped attribute tagger (models/attributes-backoff) when "
        "only the phrase tagger has been registered."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="reviewer")
        parser.add_argument("--sample", default=str(Path(settings.BASE_DIR) / "data" / "sample" / "reviews.jsonl"))
        parser.add_argument(
            "--model",
            default=str(SHIPPED_MODEL),
            help="the classifier to activate when none is active (default: models/unused-electra)",
        )
        parser.add_argument(
            "--attribute-tagger",
            default=str(SHIPPED_ATTRIBUTE_TAGGER),
            help="the attribute tagger to activate when no other than the phrase tagger is registered "
            "(default: models/attributes-backoff)",
        )
        parser.add_argument(
            "--no-model", action="store_true", help="do not register the shipped classifier and attribute tagger"
        )

    def handle(self, *args, **options):
        User = get_user_model()
        password = secrets.token_urlsafe(9)
        user, _ = User.objects.get_or_create(username=options["username"])
        user.set_password(password)
        user.is_staff = True
        user.save()
        user.groups.add(Group.objects.get(name="reviewers"))
        if not options["no_model"]:
            self.attribute_tagger(options["attribute_tagger"])  # before the reviews: it tags them after scoring
        if not Review.objects.exists():
            call_command("load_reviews", options["sample"], stdout=self.stdout, stderr=self.stderr)
        active = Classifier.objects.filter(moderation_check__code="unused", is_active=True).first()
        # An active classifier outside HWADMIN_MODEL_DIR (registered before workers required it) never loads:
        # replace it with a copy of the shipped one.
        unusable = active is not None and not inside_model_root(active.path)
        if not options["no_model"] and (active is None or unusable):
            if Path(options["model"]).is_dir():
                call_command(
                    "register_classifier",
                    options["model"],
                    "--check",
                    "unused",
                    "--name",
                    Path(options["model"]).name,
                    "--activate",
                    "--onnx",
                    "later",
                    *(["--force"] if unusable else []),
                    stdout=self.stdout,
                    stderr=self.stderr,
                )
            else:
                self.stdout.write(f"  {options['model']} is not there: no classifier registered")
        if not Classifier.objects.filter(is_active=True).exists():
            self.stdout.write(
                "  no classifier is registered yet: reviews wait unscored until one is. Build a small one with the\n"
                "  project's pipeline (.venv/bin/python manage.py build_demo_model), or register your own with\n"
                "    .venv/bin/python manage.py register_classifier --check unused MODEL_DIR --activate"
            )
        # last, so that it stands beside the address scripts/demo prints next, not above the registration's lines
        self.stdout.write("")
        self.stdout.write(f"  reviewer account: {user.username} / {password}   (staff: can open /admin/ too)")

    def attribute_tagger(self, path):
        from attributes.models import AttributeModel

        if AttributeModel.objects.exclude(kind=AttributeModel.Kind.PHRASES).exists():
            return
        if not Path(path).is_dir():
            self.stdout.write(f"  {path} is not there: reviews' attributes are tagged by the phrase tagger")
            return
        call_command("register_attribute_model", path, "--name", Path(path).name, "--activate", stdout=self.stdout)
