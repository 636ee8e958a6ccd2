"""GET /api/v1/products/<external_id>/attributes: the profile as JSON, within the permission matrix."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.authtoken.models import Token

from attributes.profile import wilson

from .conftest import phrase

pytestmark = pytest.mark.django_db
URL = "/api/v1/products/p-1/attributes"


@pytest.fixture
def tagged(make_review):
    for text in (phrase("moisture"), phrase("moisture"), phrase("moisture", "neg"), "배송 빨라요"):
        make_review(good_text=text)
    call_command("extract_attributes", stdout=StringIO(), stderr=StringIO())


def test_the_api_returns_the_profile(tagged, reviewer):
    client = Client()
    client.force_login(reviewer)
    body = client.get(URL).json()
    assert body["product"]["external_id"] == "p-1" and body["reviews"] == 4 and body["tagged"] == 4
    assert body["tagger"]["kind"] == "phrases"
    moisture = body["attributes"][0]
    assert moisture["id"] == "moisture" and moisture["ko"] == "보습" and moisture["polarity"] is True
    assert moisture["mentions"]["count"] == 3 and moisture["mentions"]["share"] == 0.75
    assert moisture["positive"]["count"] == 2 and moisture["negative"]["count"] == 1
    assert (moisture["mentions"]["low"], moisture["mentions"]["high"]) == pytest.approx(wilson(3, 4))


def test_permission_matrix(tagged, reviewer, staff, outsider, ingest_client):
    anonymous = Client().get(URL)
    assert anonymous.status_code == 401 and "credentials were not provided" in anonymous.json()["error"]
    forged = Client(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567").get(URL)
    assert forged.status_code == 401
    for user, expected in ((outsider, 403), (reviewer, 200), (staff, 200)):
        client = Client()
        client.force_login(user)
        response = client.get(URL)
        assert response.status_code == expected, user.username
    client = Client()
    client.force_login(outsider)
    assert "may not read product attributes" in client.get(URL).json()["error"]
    token = Token.objects.create(user=ingest_client)  # the client app shows the profile to shoppers
    by_token = Client(HTTP_AUTHORIZATION=f"Token {token.key}").get(URL)
    assert by_token.status_code == 200 and by_token.json()["tagged"] == 4
    assert Client(HTTP_AUTHORIZATION=f"Token {token.key}").get("/api/v1/products/nope/attributes").status_code == 404


def test_before_any_extraction_the_profile_is_empty(make_review, reviewer):
    make_review(good_text="리뷰")
    client = Client()
    client.force_login(reviewer)
    body = client.get(URL).json()
    assert body["tagger"] is None and body["attributes"] == [] and body["reviews"] == 1
