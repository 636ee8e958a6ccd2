"""manage.py create_ingest_token NAME: an API token for a client app that sends reviews."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Create (or show) the API token of a client app allowed to POST /api/v1/reviews."

    def add_arguments(self, parser):
        parser.add_argument("name", help="a user name for the client app, e.g. hwahae-app")

    def handle(self, *args, **options):
        user, created = get_user_model().objects.get_or_create(username=options["name"])
        if created:
            user.set_unusable_password()
            user.save()
        user.groups.add(Group.objects.get(name="ingest clients"))
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
