"""register_classifier: refuses what does not load or is not 2-class; activation rescores."""

import json
import shutil

import pytest
from django.core.management import CommandError, call_command

from moderation.models import Classifier, Score
from tests import tiny

pytestmark = pytest.mark.django_db


def register(*args):
    call_command("register_classifier", *map(str, args))


def test_a_missing_directory_is_refused(tmp_path):
    with pytest.raises(CommandError, match="no such directory"):
        register(tmp_path / "nope")
    assert Classifier.objects.count() == 0


def test_a_directory_without_config_is_refused(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"\0" * 10)
    with pytest.raises(CommandError, match="no config.json"):
        register(tmp_path)


def test_a_three_class_model_is_refused(tmp_path):
    tiny.make_classifier(tmp_path / "three", num_labels=3)
    with pytest.raises(CommandError, match="has 3 outputs; a check needs exactly 2"):
        register(tmp_path / "three")
    assert Classifier.objects.count() == 0


def test_corrupt_weights_are_refused(tmp_path, tiny_classifier_dir):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_classifier_dir, broken)
    (broken / "model.safetensors").write_bytes(b"this is not a safetensors file")
    with pytest.raises(CommandError, match="the model does not load"):
        register(broken)


def test_a_model_without_tokenizer_is_refused(tmp_path, tiny_classifier_dir):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_classifier_dir / name, bare / name)
    with pytest.raises(CommandError, match="tokenizer"):
        register(bare)


def test_an_unknown_check_is_refused(tiny_classifier_dir):
    with pytest.raises(CommandError, match="no check 'spam'; checks: unused"):
        register(tiny_classifier_dir, "--check", "spam")


def test_invalid_metrics_json_is_refused(tmp_path, tiny_classifier_dir):
    model = tmp_path / "m"
    shutil.copytree(tiny_classifier_dir, model)
    (model / "metrics.json").write_text("{not json")
    with pytest.raises(CommandError, match="metrics.json: not valid JSON"):
        register(model)


def test_registration_records_metrics_and_activation_rescoring(
    tmp_path, tiny_classifier_dir, eager_tasks, django_capture_on_commit_callbacks
):
    from moderation import ingest

    ingest.store_reviews(ingest.validate_reviews(tiny.sample_reviews(20)).items)
    model = tmp_path / "m"
    shutil.copytree(tiny_classifier_dir, model)
    (model / "metrics.json").write_text(json.dumps({"auroc": 0.91, "average_precision": 0.62}))

    register(model, "--name", "first")
    first = Classifier.objects.get(name="first")
    assert first.metrics["auroc"] == 0.91
    assert not first.is_active
    assert Score.objects.count() == 0, "registering without --activate scores nothing"

    with django_capture_on_commit_callbacks(execute=True):
        register(model, "--name", "second", "--activate")
    second = Classifier.objects.get(name="second")
    assert second.is_active
    assert Score.objects.filter(classifier=second).count() == 20

    with django_capture_on_commit_callbacks(execute=True):
        call_command("activate_classifier", str(first.pk))
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.is_active and not second.is_active
    assert Score.objects.filter(classifier=first).count() == 20


def test_activating_an_unknown_classifier_lists_the_known_ones(tiny_classifier_dir):
    register(tiny_classifier_dir, "--name", "only")
    with pytest.raises(CommandError, match=r"no classifier #999 \(classifiers: #\d+ only\)"):
        call_command("activate_classifier", "999")
