"""The shipped back-off tagger in the service: registered from outside HWADMIN_MODEL_DIR (copied in, its
ELECTRA partner with it), activated, tagging reviews with the phrases' certainty and the probabilities of the
regression averaged with the partner's; a directory
that does not fit is refused and its copy not left behind; demo_setup activates it."""

import io
import json
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import Client

from attributes.models import AttributeModel, ReviewAttribute

from .conftest import phrase

pytestmark = pytest.mark.django_db

SHIPPED = Path(settings.BASE_DIR) / "models" / "attributes-backoff"
# A sentence of the hand-labelled test split that says "no breakouts" (and "gentle": 순하고) with no
# breakouts phrase of the taxonomy
UNPHRASED = "성분도 순하고 좋아서 이걸 바르고 트러블이 난다거나 하지는 않았던 것 같아요."


def test_the_shipped_tagger_registers_from_outside_and_tags_past_the_phrases(make_review, model_dir, reviewer):
    review = make_review(good_text=f"{phrase('scent')}\n{UNPHRASED}")
    out = io.StringIO()
    call_command("register_attribute_model", str(SHIPPED), "--activate", stdout=out)
    model = AttributeModel.objects.get(is_active=True)
    assert model.kind == "backoff" and "46 labels" in out.getvalue()
    copy = Path(model.path)
    assert copy.parent == Path(model_dir).resolve() and copy.name == "attributes-attributes-backoff"
    assert (copy / "backoff.safetensors").read_bytes() == (SHIPPED / "backoff.safetensors").read_bytes()
    # its ELECTRA partner comes along (a subdirectory: the only one a registration copies)
    partner = copy / "partner" / "model.safetensors"
    assert partner.read_bytes() == (SHIPPED / "partner" / "model.safetensors").read_bytes()
    assert model.metrics["evaluation"]["subsets"]["all"]["model"]["micro_f1"] > 0.8
    call_command("extract_attributes", stdout=io.StringIO(), stderr=io.StringIO())
    rows = {r.attribute: r for r in ReviewAttribute.objects.filter(tagger=model, review=review)}
    assert rows["scent"].polarity == "pos" and rows["scent"].probability == 1.0  # a phrase: certain
    found = rows["breakouts"]  # no phrase says it: the regression and its partner do
    assert found.polarity == "pos" and 0.5 <= found.probability < 1.0 and found.sentence == UNPHRASED
    assert review.good_text[found.start : found.end] == UNPHRASED
    # the client app's JSON names the tagger and counts the regression's find
    client = Client()
    client.force_login(reviewer)
    body = client.get(f"/api/v1/products/{review.product.external_id}/attributes").json()
    assert body["tagger"]["kind"] == "backoff" and body["tagged"] == 1
    breakouts = next(a for a in body["attributes"] if a["id"] == "breakouts")
    assert breakouts["mentions"]["count"] == 1 and breakouts["positive"]["count"] == 1
    # the product page says which finds are inferred (no phrase to highlight) and how sure the model is
    page = f"/products/{review.product.pk}/"
    inferred = client.get(page, {"attribute": "breakouts"}).content.decode()
    assert f"추정 {found.probability:.2f}" in inferred and "<mark>" not in inferred.split('id="sentence-list"')[1]
    certain = client.get(page, {"attribute": "scent"}).content.decode()
    assert "추정" not in certain and "<mark>" in certain.split('id="sentence-list"')[1]
    # the phrase tagger alone does not find the breakouts
    phrases = AttributeModel.objects.create(kind="phrases", name="p", path="-", taxonomy_version=model.taxonomy_version)
    call_command("register_attribute_model", "--activate-id", str(phrases.pk), stdout=io.StringIO())
    call_command("extract_attributes", stdout=io.StringIO(), stderr=io.StringIO())
    found_by_phrases = set(ReviewAttribute.objects.filter(tagger=phrases).values_list("attribute", flat=True))
    assert "scent" in found_by_phrases and "breakouts" not in found_by_phrases


def test_a_back_off_directory_that_does_not_fit_is_refused_and_not_left_behind(tmp_path, model_dir):
    wrong = tmp_path / "wrong"
    shutil.copytree(SHIPPED, wrong)
    config = json.loads((wrong / "backoff.json").read_text(encoding="utf-8"))
    (wrong / "backoff.json").write_text(json.dumps({**config, "labels": ["moisture:pos"]}), encoding="utf-8")
    before = sorted(p.name for p in Path(model_dir).iterdir())
    with pytest.raises(CommandError, match=f"{wrong}/backoff.json: its labels are not the taxonomy's"):
        call_command("register_attribute_model", str(wrong), stdout=io.StringIO())
    assert sorted(p.name for p in Path(model_dir).iterdir()) == before
    (wrong / "backoff.safetensors").unlink()
    with pytest.raises(CommandError, match="no backoff.safetensors, so this is not a back-off tagger directory"):
        call_command("register_attribute_model", str(wrong), stdout=io.StringIO())
    with pytest.raises(CommandError, match="no config.json, so this is not a HuggingFace model directory"):
        call_command("register_attribute_model", str(tmp_path), stdout=io.StringIO())
    assert not AttributeModel.objects.exists()


def test_demo_setup_activates_the_shipped_tagger_once(settings):
    call_command(
        "demo_setup",
        "--sample",
        str(Path(settings.BASE_DIR) / "data" / "sample" / "reviews.jsonl"),
        "--model",
        "/nonexistent",
        stdout=io.StringIO(),
    )
    active = AttributeModel.objects.get(is_active=True)
    assert active.kind == "backoff" and active.name == "attributes-backoff"
    # an operator's choice stands: with the phrase tagger active, a second run registers nothing
    phrases = AttributeModel.objects.create(
        kind="phrases", name="p", path="-", taxonomy_version=active.taxonomy_version
    )
    call_command("register_attribute_model", "--activate-id", str(phrases.pk), stdout=io.StringIO())
    call_command("demo_setup", "--model", "/nonexistent", stdout=io.StringIO())
    assert AttributeModel.objects.count() == 2 and AttributeModel.objects.get(is_active=True).pk == phrases.pk


def test_metrics_show_the_active_tagger_and_its_backlog(make_review):
    """An operator sees which tagger runs and how many visible reviews wait for it: a backlog that
    grows while reviews are scored means the tagging tasks fail."""
    from django.test import Client

    from tests.moderation.test_health_metrics import sample

    scrape = lambda: Client().get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()  # noqa: E731
    assert sample(scrape(), "hwadmin_untagged_reviews") is None  # no tagger registered yet
    for text in (phrase("scent"), UNPHRASED, "배송 빨라요"):
        make_review(good_text=text)
    call_command("register_attribute_model", str(SHIPPED), "--activate", stdout=io.StringIO())
    model = AttributeModel.objects.get(is_active=True)
    labels = {"tagger": model.name, "kind": "backoff", "tagger_id": str(model.pk)}
    text = scrape()
    assert sample(text, "hwadmin_active_attribute_tagger", **labels) == 1
    assert sample(text, "hwadmin_untagged_reviews") == 3
    call_command("extract_attributes", stdout=io.StringIO(), stderr=io.StringIO())
    make_review(good_text="새 리뷰")
    assert sample(scrape(), "hwadmin_untagged_reviews") == 1
