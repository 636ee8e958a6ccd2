"""int8 scoring with ONNX Runtime: export and verification at registration, the runtime a worker picks
(HWADMIN_SCORING_RUNTIME), the same probabilities as torch on real texts, and no torch on the ONNX path."""

import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from moderation import onnx_scoring
from moderation.models import Check, Classifier
from moderation.scoring import ModelLoadError, load_model_dir, predict_proba
from tests import tiny

LABELLED = tiny.ROOT / "data" / "labelled" / "unused" / "reviews.jsonl"


def fresh_dir(parent, prefix):
    """A new directory (module fixtures may be set up twice in a session: pytest-django runs tests
    without a database first)."""
    return Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=parent))


def hwadmin(**changes):
    from django.conf import settings

    return override_settings(HWADMIN={**settings.HWADMIN, **changes})


@pytest.fixture(scope="module")
def spread_dir(model_dir):
    """A tiny ELECTRA whose random weights are large enough for its probabilities to spread (0.5-0.8 on the
    test split), so that differences between runtimes show; with a Platt calibration, under HWADMIN_MODEL_DIR."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from plm import calibration

    directory = tiny.make_classifier(fresh_dir(model_dir, "onnx-spread"))
    model = AutoModelForSequenceClassification.from_pretrained(str(directory))
    torch.manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() >= 2:
                parameter.normal_(0, 0.2)
    model.save_pretrained(str(directory))
    calibration.save(directory, {"method": "platt", "scale": 1.0, "bias": -1.0})
    return directory


@pytest.fixture(scope="module")
def exported_dir(spread_dir, tmp_path_factory, model_dir):
    """spread_dir with its model.int8.onnx, in a directory of its own under HWADMIN_MODEL_DIR."""
    directory = fresh_dir(model_dir, "onnx-exported")
    shutil.copytree(spread_dir, directory, dirs_exist_ok=True)
    model, _, _ = load_model_dir(directory)
    onnx_scoring.export_int8(model, directory)
    return directory


@pytest.fixture(scope="module")
def small_labelled(spread_dir, tmp_path_factory):
    """A labelled set (labelled-set JSONL) of real review texts that spread_dir separates with a wide margin:
    the 60 texts it scores highest are labelled unused, the 60 lowest used (train and test split alike), so
    that its AUROC is a property of the model and int8 noise cannot flip a pair; keeps registration fast."""
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines() if line.strip()][:600]
    texts = [row["text"] for row in rows]
    model, tokenizer, max_length = load_model_dir(spread_dir)
    scores = predict_proba(model, tokenizer, texts, max_length)
    order = sorted(range(len(texts)), key=scores.__getitem__)
    picked = []
    for split, low, high in [("test", order[:30], order[-30:]), ("train", order[30:60], order[-60:-30])]:
        picked += [{"text": texts[i], "label": "used", "split": split, "product_id": f"p{i}"} for i in low]
        picked += [{"text": texts[i], "label": "unused", "split": split, "product_id": f"p{i}"} for i in high]
    assert scores[order[-60]] - scores[order[59]] > 0.05  # the margin int8 noise would have to cross
    path = tmp_path_factory.mktemp("labelled") / "reviews.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in picked), encoding="utf-8")
    return path


def texts_for_test():
    long_text = " ".join(tiny.sample_texts(40))  # far over 128 tokens: truncated on both paths
    return tiny.sample_texts(120) + [long_text, "", "좋아요", "🙂🙂 촉촉해요"]


# --- The int8 model scores like the torch model ------------------------------------------------


def test_the_onnx_path_tokenises_as_the_torch_path_does(exported_dir):
    from transformers import AutoTokenizer

    texts = texts_for_test()
    tokenizer = AutoTokenizer.from_pretrained(str(exported_dir))
    expected = tokenizer(texts, truncation=True, max_length=128)["input_ids"]
    ids, type_ids = onnx_scoring.load_onnx(exported_dir).encode(texts, 128)
    assert ids == expected
    assert max(len(row) for row in ids) == 128 and all(set(row) == {0} for row in type_ids)


def test_int8_probabilities_are_within_a_tolerance_of_torch_on_real_texts(exported_dir):
    texts = texts_for_test()
    model, tokenizer, max_length = load_model_dir(exported_dir)
    torch_p = predict_proba(model, tokenizer, texts, max_length, batch_size=16)
    onnx_model = onnx_scoring.load_onnx(exported_dir)
    onnx_p = predict_proba(onnx_model, onnx_model.tokenizer, texts, max_length, batch_size=16)  # the worker's call
    diffs = [abs(a - b) for a, b in zip(torch_p, onnx_p)]
    assert max(diffs) < 0.05 and sum(diffs) / len(diffs) < 0.01
    assert max(torch_p) - min(torch_p) > 0.1  # the probabilities spread far more than they differ
    # calibration.json applies on the ONNX path too: the raw softmax is another number
    raw = onnx_model.predict_proba(texts[:5], max_length, calibrated=False)
    assert all(abs(a - b) > 0.01 for a, b in zip(raw, onnx_p[:5]))
    # input order is kept whatever the batch size (batches are length-sorted); int8 activations are quantised
    # per batch, so another batching moves a probability a little, and the same batching repeats exactly
    assert onnx_model.predict_proba(texts, max_length, batch_size=3) == pytest.approx(onnx_p, abs=0.05)
    assert onnx_model.predict_proba(texts, max_length, batch_size=16) == onnx_p


@pytest.mark.parametrize("fuse", [True, False], ids=["fused", "plain"])
def test_the_fp32_export_matches_torch_exactly_so_only_quantisation_differs(
    spread_dir, tmp_path, model_dir, monkeypatch, fuse
):
    """With the quantiser replaced by a copy, the exported graph gives torch's probabilities: the export's
    dynamic axes, the numpy padding, the attention mask and token type ids are right, and so are the
    optimizer's fused attention, layer norm and GELU operators."""
    import onnx
    import onnxruntime.quantization

    directory = fresh_dir(model_dir, f"onnx-fp32-{fuse}")
    shutil.copytree(spread_dir, directory, dirs_exist_ok=True)
    monkeypatch.setattr(
        onnxruntime.quantization, "quantize_dynamic", lambda source, target, **kwargs: shutil.copyfile(source, target)
    )
    model, tokenizer, max_length = load_model_dir(directory)
    attention = model.config._attn_implementation
    onnx_scoring.export_int8(model, directory, fuse=fuse)
    operators = {node.op_type for node in onnx.load(str(directory / onnx_scoring.INT8_FILENAME)).graph.node}
    assert ("Attention" in operators) is fuse and ("SkipLayerNormalization" in operators) is fuse
    texts = texts_for_test()
    torch_p = predict_proba(model, tokenizer, texts, max_length, batch_size=7)
    onnx_p = onnx_scoring.load_onnx(directory).predict_proba(texts, max_length, batch_size=7)
    assert onnx_p == pytest.approx(torch_p, abs=1e-5)
    assert not model.training  # the export left the scoring model in eval mode
    assert model.config._attn_implementation == attention  # and with the attention it had


def test_the_int8_model_runs_fused_operators(exported_dir):
    import onnx

    operators = {node.op_type for node in onnx.load(str(exported_dir / onnx_scoring.INT8_FILENAME)).graph.node}
    assert {"SkipLayerNormalization", "DynamicQuantizeLinear"} <= operators
    assert operators & {"Attention", "QAttention"}  # quantisation makes the fused attention a QAttention


def test_morpheme_models_are_preprocessed_on_the_onnx_path(exported_dir, model_dir):
    from plm import morphemes

    directory = model_dir / "onnx-morphemes"
    shutil.copytree(exported_dir, directory)
    config = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**config, morphemes.CONFIG_KEY: morphemes.KIWI_MORPHEMES}))
    texts = ["아직 안 써봤어요. 써보고 후기 남길게요", "촉촉하고 순해서 매일 잘 쓰고 있어요"]
    onnx_model = onnx_scoring.load_onnx(directory)
    plain = onnx_scoring.load_onnx(exported_dir)
    assert onnx_model.predict_proba(texts) == pytest.approx(plain.predict_proba(morphemes.morpheme_text(texts)))
    assert onnx_model.predict_proba(texts) != pytest.approx(plain.predict_proba(texts))


# --- Registration exports, verifies and records ---------------------------------------------


@pytest.mark.django_db
def test_registration_exports_int8_and_stores_its_verification(spread_dir, tmp_path, small_labelled, capsys):
    source = tmp_path / "outside"
    shutil.copytree(spread_dir, source)
    (source / onnx_scoring.INT8_FILENAME).write_bytes(b"a stale file from elsewhere: replaced, never trusted")
    (source / "metrics.json").write_text(json.dumps({"_onnx": {"verified": True, "sha256": "0" * 64}}))
    call_command("register_classifier", str(source), "--data", str(small_labelled))
    out = capsys.readouterr().out
    classifier = Classifier.objects.get()
    record = classifier.metrics["_onnx"]
    onnx_file = Path(classifier.path) / onnx_scoring.INT8_FILENAME
    assert onnx_file.is_file() and Path(classifier.path) != source
    assert record["sha256"] == onnx_scoring.file_sha256(onnx_file) != "0" * 64
    assert record["verified"] is True and record["examples"] == classifier.metrics["_gate"]["examples"] == 60
    assert abs(record["auroc_int8"] - record["auroc_fp32"]) <= 0.005
    assert 0 < record["max_abs_diff"] < 0.05 and record["seconds"] > 0
    # the gate's fp32 AUROC on the same rows is the one the verification compares with
    assert record["auroc_fp32"] == pytest.approx(classifier.metrics["_gate"]["model"]["auroc"], abs=1e-6)
    assert "int8 ONNX: verified" in out and "workers score with ONNX Runtime" in out
    assert onnx_scoring.choose_runtime(classifier)[0] == "onnx"


@pytest.mark.django_db
def test_registration_can_leave_the_int8_export_to_a_worker(
    spread_dir, tmp_path, small_labelled, eager_tasks, django_capture_on_commit_callbacks
):
    """--onnx later (make demo's path): registration answers at once with torch, the task verifies after commit."""
    source = tmp_path / "outside"
    shutil.copytree(spread_dir, source)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command("register_classifier", str(source), "--data", str(small_labelled), "--onnx", "later")
    classifier = Classifier.objects.get()
    assert classifier.metrics["_onnx"] == {"verified": False, "pending": True, "skipped": False}
    assert not (Path(classifier.path) / onnx_scoring.INT8_FILENAME).exists()
    assert onnx_scoring.choose_runtime(classifier)[0] == "torch"
    assert len(callbacks) == 1
    callbacks[0]()  # the commit: the task runs (eagerly here, on a worker in the service)
    classifier.refresh_from_db()
    assert classifier.metrics["_onnx"]["verified"] is True
    assert (Path(classifier.path) / onnx_scoring.INT8_FILENAME).is_file()
    assert onnx_scoring.choose_runtime(classifier)[0] == "onnx"
    assert "_gate" in classifier.metrics  # the export left the rest of the record alone


@pytest.mark.django_db
def test_a_model_failing_verification_is_registered_and_keeps_torch(
    spread_dir, model_dir, small_labelled, monkeypatch, capsys
):
    directory = model_dir / "onnx-unverified"
    shutil.copytree(spread_dir, directory)
    monkeypatch.setattr(onnx_scoring, "MAX_AUROC_DIFF", -1.0)  # no int8 model can pass
    call_command("register_classifier", str(directory), "--data", str(small_labelled), "--activate")
    out = capsys.readouterr().out
    classifier = Classifier.objects.get()
    assert classifier.is_active
    assert (
        classifier.metrics["_onnx"]["verified"] is False
        and "differ by more than" in classifier.metrics["_onnx"]["reason"]
    )
    assert "int8 ONNX: NOT verified" in out and "workers keep the torch runtime" in out
    assert onnx_scoring.choose_runtime(classifier)[0] == "torch"
    model, _, _ = onnx_scoring.load_for_worker(classifier)
    assert getattr(model, "runtime", "torch") == "torch"


def test_loading_and_exporting_keep_the_worker_log_clean(spread_dir, model_dir, caplog, capfd):
    """A worker's log holds its own lines: no progress bar from transformers' loading (tqdm's stderr, which
    Celery logs as WARNING records of celery.redirected) and no INFO line per node the ONNX optimizer fuses."""
    import logging

    directory = fresh_dir(model_dir, "onnx-quiet")
    shutil.copytree(spread_dir, directory, dirs_exist_ok=True)
    with caplog.at_level(logging.INFO):
        model, _, _ = load_model_dir(directory)
        onnx_scoring.export_int8(model, directory)
    assert "Loading weights" not in capfd.readouterr().err
    optimizer = [r for r in caplog.records if not r.name.startswith(("moderation", "hwadmin", "django"))]
    assert not optimizer, [f"{r.name}: {r.getMessage()[:80]}" for r in optimizer]
    assert (directory / onnx_scoring.INT8_FILENAME).is_file()  # the export itself happened
    assert logging.getLogger("fusion_base").level == logging.NOTSET  # the optimizer's levels are put back
    from transformers.utils import logging as hf_logging

    assert hf_logging.is_progress_bar_enabled()  # and so is transformers' progress bar


@pytest.mark.django_db
def test_an_export_that_fails_leaves_no_file_and_says_why(exported_dir, model_dir, monkeypatch):
    directory = model_dir / "onnx-fails"
    shutil.copytree(exported_dir, directory)

    def broken(model, directory):
        raise RuntimeError("the exporter does not support this model")

    monkeypatch.setattr(onnx_scoring, "export_int8", broken)
    lines = []
    report = onnx_scoring.build_int8(directory, "unused", log=lines.append)
    assert report["verified"] is False and "does not support this model" in report["error"]
    assert not (directory / onnx_scoring.INT8_FILENAME).exists()
    assert "export failed" in lines[0] and "torch runtime" in lines[0]


@pytest.mark.django_db
def test_export_onnx_records_an_int8_model_for_a_classifier_registered_before(
    exported_dir, model_dir, tmp_path, small_labelled, capsys
):
    directory = model_dir / "onnx-later"
    shutil.copytree(exported_dir, directory)
    (directory / onnx_scoring.INT8_FILENAME).unlink()
    check = Check.objects.get(code="unused")
    classifier = Classifier.objects.create(moderation_check=check, name="old", path=str(directory), metrics={"x": 1})
    assert onnx_scoring.choose_runtime(classifier)[0] == "torch"
    call_command("export_onnx", str(classifier.pk), "--data", str(small_labelled))
    classifier.refresh_from_db()
    assert classifier.metrics["x"] == 1 and classifier.metrics["_onnx"]["verified"] is True
    assert onnx_scoring.choose_runtime(classifier)[0] == "onnx"
    assert "int8 ONNX: verified" in capsys.readouterr().out
    with pytest.raises(CommandError, match=r"no classifier #999 \(classifiers: #\d+ old\)"):
        call_command("export_onnx", "999")
    outside = tmp_path / "outside"
    shutil.copytree(exported_dir, outside)
    stray = Classifier.objects.create(moderation_check=check, name="stray", path=str(outside))
    with pytest.raises(CommandError, match="outside HWADMIN_MODEL_DIR"):
        call_command("export_onnx", str(stray.pk))


# --- Which runtime a worker uses ---------------------------------------------------------------


def verified_record(directory, verified=True):
    return {
        "_onnx": {
            "verified": verified,
            "sha256": onnx_scoring.file_sha256(directory / onnx_scoring.INT8_FILENAME),
            "reason": None if verified else "AUROC differs",
        }
    }


@pytest.mark.django_db
def test_auto_uses_onnx_only_for_a_verified_unchanged_int8_model(exported_dir, model_dir):
    check = Check.objects.get(code="unused")

    def runtime(metrics, directory=exported_dir, setting="auto"):
        classifier = Classifier.objects.create(moderation_check=check, name="c", path=str(directory), metrics=metrics)
        with hwadmin(SCORING_RUNTIME=setting):
            return onnx_scoring.choose_runtime(classifier)

    assert runtime(verified_record(exported_dir)) == ("onnx", "int8 model verified on the labelled test split")
    assert runtime(verified_record(exported_dir, verified=False))[0] == "torch"
    assert runtime({})[0] == "torch"  # registered before int8 export existed: nothing recorded
    assert runtime(verified_record(exported_dir), setting="torch") == ("torch", "HWADMIN_SCORING_RUNTIME=torch")
    # an unverified model is used when asked for explicitly
    assert runtime(verified_record(exported_dir, verified=False), setting="onnx")[0] == "onnx"
    assert runtime(verified_record(exported_dir), setting=" ONNX ")[0] == "onnx"
    with pytest.raises(ModelLoadError, match=r"HWADMIN_SCORING_RUNTIME='fast': must be one of torch, onnx, auto"):
        runtime(verified_record(exported_dir), setting="fast")


@pytest.mark.django_db
def test_get_classifier_scores_with_the_runtime_chosen(exported_dir):
    from moderation import scoring

    check = Check.objects.get(code="unused")
    classifier = Classifier.objects.create(
        moderation_check=check, name="c", path=str(exported_dir), metrics=verified_record(exported_dir)
    )
    scoring._cache.clear()
    try:
        loaded = scoring.get_classifier(classifier)
        assert isinstance(loaded.model, onnx_scoring.OnnxClassifier) and loaded.max_length == 128
        with hwadmin(SCORING_RUNTIME="torch"):
            other = Classifier.objects.create(
                moderation_check=check, name="d", path=str(exported_dir), metrics=verified_record(exported_dir)
            )
            assert type(scoring.get_classifier(other).model).__name__ == "ElectraForSequenceClassification"
    finally:
        scoring._cache.clear()


@pytest.mark.django_db
def test_a_changed_missing_or_corrupt_int8_model_falls_back_under_auto_and_is_an_error_under_onnx(
    exported_dir, model_dir, caplog
):
    check = Check.objects.get(code="unused")

    def setup(name, damage):
        directory = model_dir / name
        shutil.copytree(exported_dir, directory)
        metrics = verified_record(directory)
        damage(directory / onnx_scoring.INT8_FILENAME)
        return Classifier.objects.create(moderation_check=check, name=name, path=str(directory), metrics=metrics)

    changed = setup("onnx-changed", lambda f: f.write_bytes(f.read_bytes()[:-10]))
    missing = setup("onnx-missing", lambda f: f.unlink())
    for classifier, message in [(changed, "changed since it was exported and verified"), (missing, "no int8 model")]:
        runtime, reason = onnx_scoring.choose_runtime(classifier)
        assert runtime == "torch" and message in reason
        with hwadmin(SCORING_RUNTIME="onnx"), pytest.raises(ModelLoadError, match=message):
            onnx_scoring.load_for_worker(classifier)

    # corrupt, and recorded as such (the same SHA-256): ONNX Runtime refuses it
    corrupt = setup("onnx-corrupt", lambda f: f.write_bytes(b"\x08garbage, not a protobuf"))
    corrupt.metrics = verified_record(Path(corrupt.path))
    model, _, _ = onnx_scoring.load_for_worker(corrupt)
    assert type(model).__name__ == "ElectraForSequenceClassification"
    assert "int8 model does not load, scoring with torch instead" in caplog.text
    with hwadmin(SCORING_RUNTIME="onnx"), pytest.raises(ModelLoadError, match="does not load in ONNX Runtime"):
        onnx_scoring.load_for_worker(corrupt)


# --- A worker on ONNX Runtime needs no torch -------------------------------------------------


def test_a_worker_scores_with_onnx_runtime_without_importing_torch(exported_dir, tmp_path):
    texts = tiny.sample_texts(20)
    model, tokenizer, max_length = load_model_dir(exported_dir)
    expected = predict_proba(model, tokenizer, texts, max_length)
    script = textwrap.dedent(
        """
        import json, os, sys
        sys.modules["torch"] = None  # any `import torch` raises ImportError
        os.environ["DJANGO_SETTINGS_MODULE"] = "hwadmin.settings"
        import django
        django.setup()
        from django.core.management import call_command
        call_command("migrate", verbosity=0)
        from moderation import scoring
        from moderation.models import Check, Classifier, Product, Review, Score
        directory, sha, texts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
        check = Check.objects.get(code="unused")
        Classifier.objects.create(moderation_check=check, name="int8", path=directory, is_active=True,
                                  metrics={"_onnx": {"verified": True, "sha256": sha}})
        product = Product.objects.create(external_id="p", name="p")
        from django.utils import timezone
        ids = [Review.objects.create(source="s", external_id=str(i), product=product, rating=5, good_text=t,
                                     written_at=timezone.now()).pk for i, t in enumerate(texts)]
        assert scoring.score_reviews(ids) == len(ids)
        print("RUNTIME:" + type(scoring._cache[check.pk].model).__name__)
        print("SCORES:" + json.dumps([Score.objects.get(review_id=i).probability for i in ids]))
        print("HEAVY:" + ",".join(sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "transformers"}
                                          and sys.modules[m] is not None)))
        """
    )
    env = {
        "HWADMIN_VAR_DIR": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "SECRET_KEY": "onnx-worker-test",
        "HWADMIN_MODEL_DIR": str(exported_dir.parent),
        "HWADMIN_SCORING_RUNTIME": "auto",
    }
    sha = onnx_scoring.file_sha256(exported_dir / onnx_scoring.INT8_FILENAME)
    result = subprocess.run(
        [sys.executable, "-c", script, str(exported_dir), sha, json.dumps(texts)],
        cwd=tiny.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = dict(
        line.split(":", 1) for line in result.stdout.splitlines() if line[:6] in ("RUNTIM", "SCORES", "HEAVY:")
    )
    assert lines["RUNTIME"] == "OnnxClassifier"
    assert lines["HEAVY"] == ""
    assert json.loads(lines["SCORES"]) == pytest.approx(expected, abs=0.05)
