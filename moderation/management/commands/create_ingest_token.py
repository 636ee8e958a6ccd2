"""manage.py create_ingest_token NAME [--rotate]: the API token of a client app that sends reviews.

A token is printed once, when it is created. The account is a service account: no
password, not staff, not a superuser (a person's account is refused). `--rotate`
deletes the old token (it stops working at once) and prints a new one.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = (
        "Create the API token of a client app allowed to POST /api/v1/reviews and print it (once). "
        "--rotate replaces an existing token."
    )

    # help and add_arguments have the shape every command has; the options are this command's own.
    def add_arguments(self, parser):
        parser.add_argument("name", help="a user name for the client app, e.g. hwahae-app")
        parser.add_argument(
            "--rotate",
            action="store_true",
            help="delete the app's current token (it stops working at once) and print a new one",
        )

    def handle(self, *args, **options):
        name = options["name"].strip()
        if not name:
            raise CommandError("give the client app's user name, e.g. hwahae-app")
        with transaction.atomic():
            user, created = get_user_model().objects.select_for_update().get_or_create(username=name)
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            else:
                self.refuse_a_persons_account(user)
            existing = Token.objects.filter(user=user).first()
            if existing and not options["rotate"]:
                raise CommandError(
                    f"{name} already has an ingest token (created {existing.created:%Y-%m-%d %H:%M %Z}); it is not "
                    f"shown again. To replace it, run `manage.py create_ingest_token {name} --rotate` (the old token "
                    "stops working at once)."
                )
            if existing:
                existing.delete()
            user.groups.add(Group.objects.get(name="ingest clients"))
            token = Token.objects.create(user=user)
        if existing:
            self.stderr.write(f"The old token of {name} was deleted; the new one follows.")
        self.stdout.write(token.key)

    @staticmethod
    def refuse_a_persons_account(user):
        name = user.get_username()
        if user.is_superuser or user.is_staff:
            role = "a superuser" if user.is_superuser else "a staff account"
            raise CommandError(
                f"{name} is {role}: a token for it would carry all its rights into the API. Ingest tokens are "
                "for client-app accounts; give the client app a name of its own, e.g. hwahae-app."
            )
        if user.has_usable_password():
            raise CommandError(
                f"{name} has a password, so it is a person's login: ingest tokens are for client-app accounts "
                "without one. Give the client app a name of its own, e.g. hwahae-app."
            )
