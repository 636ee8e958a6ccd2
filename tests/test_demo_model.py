"""build_demo_model: the whole pipeline at toy scale ends in an active, working classifier."""

import io
import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from moderation.models import Check, Classifier

# Toy size that still learns enough to spread its scores (the refusal test uses 1 epoch, which does not).
DEMO_EPOCHS = "3"


def build_toy_demo(work, epochs, out):
    """build_demo_model at toy size: a 3,000-word vocabulary, 1 layer of 32, 4 pretraining steps."""
    call_command(
        "build_demo_model",
        "--workdir",
        str(work),
        "--vocab-size",
        "3000",
        "--hidden-size",
        "32",
        "--layers",
        "1",
        "--pretrain-steps",
        "4",
        "--epochs",
        epochs,
        stdout=out,
        stderr=io.StringIO(),
    )


def assert_every_stage_ran(work):
    """The corpus, vocabulary, pretraining data and pretraining checkpoint are in the work folder."""
    assert (work / "corpus" / "stats.json").exists()
    assert (work / "vocab" / "tokenizer.json").exists()
    assert list((work / "pretrain-data").glob("pretrain_data.tfrecord-*"))
    assert (work / "electra" / "model.ckpt-4.index").exists()


@pytest.mark.django_db
def test_build_demo_model_runs_the_pipeline_and_never_registers_a_model_whose_scores_do_not_spread(tmp_path):
    """At toy size (1 layer of 32, 4 pretraining steps, 1 epoch) every stage runs, and the result scores
    every sample review the same: it is refused, and nothing is registered."""
    out = io.StringIO()
    work = tmp_path / "demo"
    with pytest.raises(
        CommandError, match=r"barely differ \(standard deviation 0\.0\d+, under 0\.05\).*not registered"
    ):
        build_toy_demo(work, "1", out)
    assert not Classifier.objects.exists()
    # every stage left its output, the semi-supervised fine-tuning included
    assert_every_stage_ran(work)
    metrics = json.loads((work / "unused-classifier" / "metrics.json").read_text())
    assert metrics["semi_supervised"]["source"].endswith("sample/reviews.jsonl")
    assert metrics["semi_supervised"]["teachers"][0]["teacher"] == "baseline"
    assert metrics["baseline"]["test"]["auroc"] > 0.8


@pytest.mark.django_db
def test_build_demo_model_activates_a_classifier_whose_scores_spread(tmp_path):
    from moderation import scoring

    out = io.StringIO()
    work = tmp_path / "demo"
    build_toy_demo(work, DEMO_EPOCHS, out)

    # every stage left its output
    assert_every_stage_ran(work)
    ported = json.loads((work / "pretrained" / "config.json").read_text())
    assert ported["hidden_size"] == 32 and ported["num_hidden_layers"] == 1
    metrics = json.loads((work / "unused-classifier" / "metrics.json").read_text())
    assert metrics["task"] == "unused" and metrics["test"]["examples"] > 100
    assert metrics["untrained_validation"]["representation_spread"] > 0.05  # the base model is not collapsed

    classifier = Classifier.objects.get(moderation_check=Check.objects.get(code="unused"), is_active=True)
    # registered as a copy in HWADMIN_MODEL_DIR, where workers load from
    copy = Path(classifier.path)
    assert copy.parent == Path(settings.HWADMIN["MODEL_DIR"]).resolve() and copy.name.startswith("unused-")
    assert (copy / "model.safetensors").read_bytes() == (work / "unused-classifier" / "model.safetensors").read_bytes()
    assert "demo classifier" in out.getvalue()
    spread = float(out.getvalue().split("sample score spread (standard deviation): ")[1].split()[0])
    assert spread >= 0.05

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
