import copy

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests import tiny


@pytest.fixture
def ingest_client(db):
    user = get_user_model().objects.create(username="client-app")
    user.groups.add(Group.objects.get(name="ingest clients"))
    token = Token.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def review_item():
    """A valid review in the ingest format (a fresh copy each time)."""

    def make(external_id="r-1", **changes):
        item = copy.deepcopy(tiny.sample_reviews(1)[0])
        item["external_id"] = external_id
        item.update(changes)
        return item

    return make
