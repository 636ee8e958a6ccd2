"""build_demo_model: the whole pipeline at toy scale ends in an active, working classifier."""

import io
import json

import pytest
from django.core.management import call_command

from moderation.models import Check, Classifier


@pytest.mark.django_db
def test_build_demo_model_runs_the_pipeline_and_activates_a_working_classifier(tmp_path):
    from moderation import scoring

    out = io.StringIO()
    work = tmp_path / "demo"
    call_command("build_demo_model", "--workdir", str(work), "--vocab-size", "3000", "--hidden-size", "32",
                 "--layers", "1", "--pretrain-steps", "4", "--epochs", "1", stdout=out, stderr=io.StringIO())

    # every stage left its output
    assert (work / "corpus" / "stats.json").exists()
    assert (work / "vocab" / "tokenizer.json").exists()
    assert list((work / "pretrain-data").glob("pretrain_data.tfrecord-*"))
    assert (work / "electra" / "model.ckpt-4.index").exists()
    ported = json.loads((work / "pretrained" / "config.json").read_text())
    assert ported["hidden_size"] == 32 and ported["num_hidden_layers"] == 1
    metrics = json.loads((work / "unused-classifier" / "metrics.json").read_text())
    assert metrics["task"] == "unused" and metrics["test"]["examples"] > 100
    assert metrics["untrained_validation"]["representation_spread"] > 0.05  # the base model is not collapsed

    classifier = Classifier.objects.get(moderation_check=Check.objects.get(code="unused"), is_active=True)
    assert str(work / "unused-classifier") in classifier.path
    assert "demo classifier" in out.getvalue()

    # the registered directory scores real text
    model, tokenizer, max_length = scoring.load_model_dir(classifier.path)
    probabilities = scoring.predict_proba(model, tokenizer, ["아직 안 써봤어요", "한 달째 쓰는데 촉촉해요"], max_length)
    assert len(probabilities) == 2 and all(0.0 < p < 1.0 for p in probabilities)

    # a second run finds the active classifier and does nothing
    again = io.StringIO()
    call_command("build_demo_model", "--workdir", str(tmp_path / "other"), stdout=again)
    assert "nothing to do" in again.getvalue()
    assert not (tmp_path / "other").exists()
    assert Classifier.objects.count() == 1
