"""register_classifier: refuses what does not load or is not 2-class; activation rescores; models are copied
into HWADMIN_MODEL_DIR and loaded only from there, safetensors only, never running a directory's code."""

import json
import shutil
from pathlib import Path

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


# --- Safe model loading: only from HWADMIN_MODEL_DIR, safetensors only, never the directory's code -----


def test_a_directory_outside_the_model_dir_is_copied_in_and_the_copy_registered(
    tmp_path, tiny_classifier_dir, model_dir
):
    from plm import calibration

    source = tmp_path / "elsewhere"
    shutil.copytree(tiny_classifier_dir, source)
    calibration.save(source, {"method": "platt", "scale": 1.0, "bias": 0.0})
    (source / "metrics.json").write_text(json.dumps({"auroc": 0.9}))
    (source / "README.md").write_text("model card")
    (source / "pytorch_model.bin").write_bytes(b"a pickle: never copied, never read")
    (source / "modeling_custom.py").write_text("raise SystemExit('never copied')")
    (source / "checkpoints").mkdir()
    (source / "checkpoints" / "step-1.safetensors").write_bytes(b"0")
    expected = {f.name for f in source.iterdir() if f.is_file()} - {"pytorch_model.bin", "modeling_custom.py"}
    assert {"config.json", "model.safetensors", "tokenizer.json", "calibration.json", "metrics.json"} <= expected

    register(source, "--name", "Outside One")
    classifier = Classifier.objects.get()
    copy = Path(classifier.path)
    assert copy.parent == model_dir.resolve() and copy.name == "unused-outside-one"
    # the copy holds the allowed files, and the int8 export registration writes beside them (never the source's)
    assert {f.name for f in copy.iterdir()} == expected | {"model.int8.onnx"}
    for name in expected:
        assert (copy / name).read_bytes() == (source / name).read_bytes()
    assert classifier.metrics["auroc"] == 0.9 and classifier.name == "Outside One"

    register(source)  # again, without a name: a second folder named by the time, the source's name on the row
    second = Classifier.objects.exclude(pk=classifier.pk).get()
    assert second.name == "elsewhere"
    assert Path(second.path).parent == model_dir.resolve() and Path(second.path).name.startswith("unused-20")
    assert Path(second.path) != copy


def test_a_directory_inside_the_model_dir_is_registered_where_it_is(tiny_classifier_dir, model_dir):
    register(tiny_classifier_dir, "--name", "in-place")
    assert Path(Classifier.objects.get().path) == tiny_classifier_dir.resolve()


def test_a_failed_registration_leaves_no_copy_behind_and_names_the_original(tmp_path, model_dir):
    tiny.make_classifier(tmp_path / "three", num_labels=3)
    before = set(model_dir.iterdir())
    with pytest.raises(CommandError, match=rf"{tmp_path / 'three'}: the classifier has 3 outputs"):
        register(tmp_path / "three")
    assert set(model_dir.iterdir()) == before


def test_a_directory_with_only_pickled_weights_is_refused(tmp_path, tiny_classifier_dir, model_dir):
    import torch
    from safetensors.torch import load_file

    from moderation import scoring

    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_classifier_dir, pickled)
    torch.save(load_file(str(pickled / "model.safetensors")), pickled / "pytorch_model.bin")
    (pickled / "model.safetensors").unlink()
    before = set(model_dir.iterdir())
    with pytest.raises(CommandError, match=r"its weights are pickles only \(pytorch_model\.bin\)"):
        register(pickled)
    assert Classifier.objects.count() == 0 and set(model_dir.iterdir()) == before
    with pytest.raises(scoring.ModelLoadError, match="hwadmin loads safetensors only"):
        scoring.load_model_dir(pickled)


def test_a_worker_refuses_a_classifier_whose_path_resolves_outside_the_model_dir(
    tmp_path, tiny_classifier_dir, model_dir
):
    from moderation import ingest, scoring
    from moderation.models import Check
    from moderation.registry import activate_classifier

    ids = sorted(ingest.store_reviews(ingest.validate_reviews(tiny.sample_reviews(5)).items).created)
    outside = tmp_path / "outside"
    shutil.copytree(tiny_classifier_dir, outside)
    link = model_dir / f"link-{tmp_path.name}"
    link.symlink_to(outside, target_is_directory=True)  # looks inside, resolves outside
    linked_file = model_dir / f"linked-file-{tmp_path.name}"
    shutil.copytree(tiny_classifier_dir, linked_file)
    (linked_file / "model.safetensors").unlink()
    (linked_file / "model.safetensors").symlink_to(outside / "model.safetensors")
    check = Check.objects.get(code="unused")
    for path, message in [
        (outside, "outside HWADMIN_MODEL_DIR"),
        (link, "outside HWADMIN_MODEL_DIR"),
        (linked_file, "model.safetensors is a link to .*, outside HWADMIN_MODEL_DIR"),
    ]:
        activate_classifier(Classifier.objects.create(moderation_check=check, name=path.name, path=str(path)))
        scoring._cache.clear()
        with pytest.raises(scoring.ModelLoadError, match=message):
            scoring.score_reviews(ids)
        assert Score.objects.count() == 0


def test_a_model_directory_never_runs_its_own_code(tmp_path, tiny_classifier_dir, monkeypatch):
    import transformers

    from moderation import scoring

    directory = tmp_path / "custom-code"
    shutil.copytree(tiny_classifier_dir, directory)
    marker = tmp_path / "the-directory-code-ran"
    (directory / "custom.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
        "from transformers import ElectraConfig, ElectraForSequenceClassification\n"
        "class CustomConfig(ElectraConfig):\n    pass\n"
        "class CustomModel(ElectraForSequenceClassification):\n    config_class = CustomConfig\n"
    )
    config = json.loads((directory / "config.json").read_text())
    config["auto_map"] = {
        "AutoConfig": "custom.CustomConfig",
        "AutoModelForSequenceClassification": "custom.CustomModel",
    }
    (directory / "config.json").write_text(json.dumps(config))

    calls = []
    for cls in (transformers.AutoModelForSequenceClassification, transformers.AutoTokenizer):
        real = cls.from_pretrained
        monkeypatch.setattr(
            cls,
            "from_pretrained",
            lambda *args, _real=real, _name=cls.__name__, **kwargs: calls.append((_name, kwargs))
            or _real(*args, **kwargs),
        )
    model, _, _ = scoring.load_model_dir(directory)
    assert type(model).__name__ == "ElectraForSequenceClassification"
    assert not marker.exists()
    assert {name for name, _ in calls} == {"AutoModelForSequenceClassification", "AutoTokenizer"}
    assert all(kwargs.get("trust_remote_code") is False for _, kwargs in calls), calls
    assert all(kwargs.get("use_safetensors") is True for name, kwargs in calls if name.startswith("AutoModel"))

    register(directory, "--name", "custom")
    assert not (Path(Classifier.objects.get().path) / "custom.py").exists()
    assert not marker.exists()
