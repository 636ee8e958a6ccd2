"""load_reviews, score_pending and create_ingest_token from the command line."""

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from moderation.models import Classifier, Review, Score
from tests import tiny

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command(*map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_load_reviews_jsonl_reports_stored_updated_and_rejected(tmp_path):
    rows = tiny.sample_reviews(50)
    path = tmp_path / "reviews.jsonl"
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    lines.insert(10, "{broken json")
    bad = dict(rows[0], external_id="bad-rating", rating=11)
    lines.append(json.dumps(bad, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    out, err = run("load_reviews", path)
    assert "50 stored, 0 updated, 0 unchanged, 2 rejected" in out
    assert "line 11: line: not valid JSON" in err
    assert "line 52: rating:" in err
    assert Review.objects.count() == 50

    rows[3]["rating"] = 1 if rows[3]["rating"] != 1 else 2
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    out, _ = run("load_reviews", path)
    assert "0 stored, 1 updated, 49 unchanged, 0 rejected" in out


def test_load_reviews_csv(tmp_path):
    rows = tiny.sample_reviews(20)
    path = tmp_path / "reviews.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "source",
                "external_id",
                "product_external_id",
                "product_name",
                "brand",
                "category",
                "author_ref",
                "rating",
                "good_text",
                "bad_text",
                "written_at",
            ]
        )
        for r in rows:
            p = r["product"]
            writer.writerow(
                [
                    r["source"],
                    r["external_id"],
                    p["external_id"],
                    p["name"],
                    p["brand"],
                    p["category"],
                    r["author_ref"],
                    r["rating"],
                    r["good_text"],
                    "",
                    r["written_at"],
                ]
            )
        writer.writerow(["app", "x-1", "p-1", "", "", "", "", "5", "", "", "2026-01-01T00:00:00Z"])
    out, err = run("load_reviews", path)
    assert "20 stored, 0 updated, 0 unchanged, 1 rejected" in out
    assert "good_text" in err and "empty" in err
    review = Review.objects.get(external_id=rows[0]["external_id"])
    assert review.good_text == rows[0]["good_text"]
    assert review.product.category == rows[0]["product"]["category"]


def test_load_reviews_refuses_a_csv_without_required_columns(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("source,text\napp,hello\n")
    with pytest.raises(CommandError, match="lacks the column"):
        run("load_reviews", path)


def test_load_reviews_refuses_unknown_extensions_and_missing_files(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        run("load_reviews", tmp_path / "none.jsonl")
    other = tmp_path / "r.txt"
    other.write_text("x")
    with pytest.raises(CommandError, match="--format"):
        run("load_reviews", other)


def test_load_reviews_refuses_non_utf8(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(
        json.dumps(tiny.sample_reviews(1)[0], ensure_ascii=False).encode("cp949", errors="replace") + b"\n"
    )
    with pytest.raises(CommandError, match="not UTF-8"):
        run("load_reviews", path)


def test_score_pending_needs_an_active_classifier(db):
    with pytest.raises(CommandError, match="no classifier is active"):
        run("score_pending")


def test_score_pending_now_scores_every_pending_review(tiny_classifier_dir):
    from moderation import ingest

    ingest.store_reviews(ingest.validate_reviews(tiny.sample_reviews(30)).items)
    run("register_classifier", tiny_classifier_dir)  # registered, not active: nothing queued
    run("activate_classifier", Classifier.objects.get().pk)
    out, _ = run("score_pending", "--now")
    assert "30 reviews scored" in out
    assert Score.objects.count() == 30
    out, _ = run("score_pending", "--now")
    assert "0 reviews scored" in out


# --- create_ingest_token ---------------------------------------------------------------------


def test_create_ingest_token_prints_a_new_token_once(client):
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    out, _ = run("create_ingest_token", "hwahae-app")
    key = out.strip()
    user = User.objects.get(username="hwahae-app")
    assert Token.objects.get(user=user).key == key
    assert not user.has_usable_password() and not user.is_staff and not user.is_superuser
    assert user.has_perm("moderation.ingest_reviews")
    # Working: an empty list is a 400 from the view, not a 401/403.
    response = client.post("/api/v1/reviews", [], content_type="application/json", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 400

    with pytest.raises(CommandError, match=r"already has an ingest token.*not shown again.*--rotate") as refused:
        run("create_ingest_token", "hwahae-app")
    assert key not in str(refused.value)
    assert Token.objects.get(user=user).key == key


def test_create_ingest_token_rotate_replaces_the_token(client):
    from rest_framework.authtoken.models import Token

    old = run("create_ingest_token", "hwahae-app")[0].strip()
    out, err = run("create_ingest_token", "hwahae-app", "--rotate")
    new = out.strip()
    assert new and new != old and old not in out
    assert "old token of hwahae-app was deleted" in err
    assert list(Token.objects.values_list("key", flat=True)) == [new]
    answer = client.post("/api/v1/reviews", [], content_type="application/json", HTTP_AUTHORIZATION=f"Token {old}")
    assert answer.status_code == 401


@pytest.mark.parametrize(
    "flags,words",
    [
        ({"is_superuser": True, "is_staff": True}, "is a superuser"),
        ({"is_staff": True}, "is a staff account"),
        ({}, "has a password, so it is a person's login"),
    ],
)
def test_create_ingest_token_refuses_a_persons_account(flags, words):
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    User.objects.create_user("minji", password="a-password-of-hers", **flags)
    for args in (["minji"], ["minji", "--rotate"]):
        with pytest.raises(CommandError, match=f"minji {words}"):
            run("create_ingest_token", *args)
    assert not Token.objects.exists()
    assert not User.objects.get(username="minji").groups.exists()


def test_create_ingest_token_refuses_staff_even_without_a_password():
    from django.contrib.auth.models import User

    user = User.objects.create(username="ops", is_staff=True)
    user.set_unusable_password()
    user.save()
    with pytest.raises(CommandError, match="ops is a staff account"):
        run("create_ingest_token", "ops")
