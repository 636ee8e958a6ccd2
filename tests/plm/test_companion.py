"""The companion regression stacked with the network in the calibration: saved without pickles, scored
without scikit-learn exactly as scikit-learn scores it, fitted on validation, applied by both runtimes."""

import io
import json
import math
import random
import shutil

import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from plm import baseline, calibration, datasets
from plm.morphemes import KIWI_MORPHEMES, preprocess
from tests import tiny

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def unused_set():
    return datasets.load_unused()


@pytest.fixture(scope="module")
def fitted_morph(unused_set):
    texts, labels, _ = unused_set.split("train")
    return baseline.fit_baseline(texts[:600], labels[:600], "morph")


def test_a_saved_companion_scores_exactly_as_the_fitted_pipeline(fitted_morph, unused_set, tmp_path):
    baseline.save_companion(fitted_morph, tmp_path)
    saved = json.loads((tmp_path / baseline.COMPANION_FILE).read_text(encoding="utf-8"))
    assert saved["preprocess"] == KIWI_MORPHEMES and saved["ngram_range"] == [1, 2]
    companion = baseline.load_companion(tmp_path)
    texts = unused_set.split("test")[0][:200] + ["", "🙂", "아직 안 써봤어요 아직 안 써봤어요"]
    read = preprocess(KIWI_MORPHEMES, texts)
    expected = fitted_morph.pipeline.decision_function(read)
    assert companion.margins(texts) == pytest.approx(list(expected), abs=1e-9)
    # text the model already split into morphemes is reused, not split again
    assert companion.margins(["무시됨"] * len(texts), read, KIWI_MORPHEMES) == pytest.approx(list(expected), abs=1e-9)
    # the probabilities are the pipeline's
    p = [1 / (1 + math.exp(-m)) for m in companion.margins(texts[:20])]
    assert p == pytest.approx(fitted_morph.scores(texts[:20]), abs=1e-9)


def test_a_character_regression_is_refused_and_a_broken_file_is_a_clear_error(unused_set, fitted_morph, tmp_path):
    texts, labels, _ = unused_set.split("train")
    with pytest.raises(baseline.CompanionError, match="word n-gram"):
        baseline.save_companion(baseline.fit_baseline(texts[:200], labels[:200]), tmp_path)
    assert baseline.load_companion(tmp_path) is None
    (tmp_path / baseline.COMPANION_FILE).write_text("{not json")
    with pytest.raises(baseline.CompanionError, match="not valid JSON"):
        baseline.load_companion(tmp_path)
    baseline.save_companion(fitted_morph, tmp_path)
    payload = json.loads((tmp_path / baseline.COMPANION_FILE).read_text(encoding="utf-8"))
    payload["idf"] = payload["idf"][:-1]
    (tmp_path / baseline.COMPANION_FILE).write_text(json.dumps(payload))
    with pytest.raises(baseline.CompanionError, match="one entry per term"):
        baseline.load_companion(tmp_path)


def two_views(n=4000, seed=0):
    """Labels from a latent score, and two models that each see it through their own noise."""
    rng = random.Random(seed)
    latent = [rng.gauss(0, 2) for _ in range(n)]
    labels = [int(rng.random() < 1 / (1 + math.exp(-z))) for z in latent]
    network = [z + rng.gauss(0, 1.5) for z in latent]
    companion = [0.5 * z + rng.gauss(0, 0.8) for z in latent]
    return labels, network, companion


def test_a_stacking_calibration_ranks_better_than_either_model_and_stays_calibrated():
    from plm.evaluation import expected_calibration_error

    labels, network, companion = two_views()
    half = len(labels) // 2
    fitted = calibration.fit(network[:half], labels[:half], "platt", companion=companion[:half])
    assert calibration.stacks(fitted) and fitted["companion_scale"] > 0 and fitted["scale"] > 0
    stacked = [calibration.apply(fitted, d, m) for d, m in zip(network[half:], companion[half:])]
    held = labels[half:]
    for alone in (network[half:], companion[half:]):
        assert average_precision_score(held, stacked) > average_precision_score(held, alone) + 0.01
        assert roc_auc_score(held, stacked) > roc_auc_score(held, alone)
    assert expected_calibration_error(held, stacked) < 0.05
    with pytest.raises(calibration.CalibrationError, match="margin is needed"):
        calibration.apply(fitted, 0.3)
    with pytest.raises(calibration.CalibrationError, match="platt calibration only"):
        calibration.fit(network[:half], labels[:half], "isotonic", companion=companion[:half])


def test_workers_refuse_a_stacking_calibration_without_its_companion(tiny_classifier_dir, tmp_path, fitted_morph):
    from moderation import scoring

    model_dir = tmp_path / "m"
    shutil.copytree(tiny_classifier_dir, model_dir)
    calibration.save(model_dir, {"method": "platt", "scale": 1.0, "bias": 0.0, "companion_scale": 1.0})
    with pytest.raises(scoring.ModelLoadError, match="companion.json is missing"):
        scoring.load_model_dir(model_dir)
    calibration.save(model_dir, {"method": "platt", "scale": 1.0, "bias": 0.0, "companion_scale": "big"})
    with pytest.raises(scoring.ModelLoadError, match="'companion_scale' must be a number"):
        scoring.load_model_dir(model_dir)


@pytest.fixture(scope="module")
def stacked_run(tmp_path_factory, tiny_classifier_dir):
    """A tiny fine-tuning run with the morpheme regression stacked in its calibration."""
    work = tmp_path_factory.mktemp("stacked")
    tiny.finetune_unused(
        tiny_classifier_dir,
        work / "model",
        "--max-train",
        "400",
        "--max-eval",
        "150",
        "--companion",
        "morph-baseline",
        stdout=io.StringIO(),
    )
    return work / "model"


def test_finetuning_with_a_companion_reports_the_stack_and_the_network_alone(stacked_run):
    metrics = json.loads((stacked_run / "metrics.json").read_text())
    rows = [json.loads(line) for line in (stacked_run / "predictions.jsonl").read_text().splitlines()]
    test = [r for r in rows if r["split"] == "test"]
    labels = [r["label"] for r in test]
    assert metrics["companion"]["name"] == baseline.MORPH_NAME and metrics["companion"]["trained_on"] == "train split"
    assert calibration.stacks(metrics["calibration"])
    # the model's figures are the stack's, recomputed from the saved calibrated scores
    assert metrics["test"]["auroc"] == pytest.approx(roc_auc_score(labels, [r["calibrated"] for r in test]))
    assert metrics["test"]["average_precision"] == pytest.approx(
        average_precision_score(labels, [r["calibrated"] for r in test])
    )
    # the network's own, beside it
    assert metrics["test"]["network_alone"]["auroc"] == pytest.approx(
        roc_auc_score(labels, [r["probabilities"][1] for r in test])
    )
    # each calibrated score is the calibration of the network's margin and the companion's
    for r in test[:20]:
        d = calibration.margin(r["probabilities"][1])
        assert r["calibrated"] == pytest.approx(calibration.apply(metrics["calibration"], d, r["companion_margin"]))


def test_both_runtimes_score_a_stacked_directory_as_it_was_evaluated(stacked_run, model_dir):
    from moderation import onnx_scoring, scoring

    directory = model_dir / "stacked-copy"
    shutil.copytree(stacked_run, directory)
    rows = [json.loads(line) for line in (stacked_run / "predictions.jsonl").read_text().splitlines()]
    test = [r for r in rows if r["split"] == "test"][:60]
    texts = [r["text"] for r in test]
    model, tokenizer, max_length = scoring.load_model_dir(directory)
    assert model.companion is not None
    torch_scores = scoring.predict_proba(model, tokenizer, texts, 48)
    assert torch_scores == pytest.approx([r["calibrated"] for r in test], abs=1e-4)
    onnx_scoring.export_int8(model, directory)
    onnx_model = onnx_scoring.load_onnx(directory, max_length=48)
    fitted = json.loads((directory / "calibration.json").read_text())
    raw = onnx_model.predict_proba(texts, calibrated=False)
    expected = [calibration.apply(fitted, calibration.margin(p), r["companion_margin"]) for p, r in zip(raw, test)]
    assert onnx_model.predict_proba(texts) == pytest.approx(expected, abs=1e-6)


def test_evaluate_classifier_puts_the_stacks_two_inputs_beside_it(stacked_run, tmp_path):
    """A stacked directory is scored three ways on the same rows: the stack, the network alone and the companion
    regression alone, each in the bootstrap beside the baseline, as the shipped classifier's README table reads."""
    from django.core.management import call_command

    out = io.StringIO()
    output = tmp_path / "eval"
    call_command("evaluate_classifier", str(stacked_run), "--output", str(output), "--bootstrap", "100", stdout=out)
    result = json.loads((output / "evaluation.json").read_text())
    bootstrap = result["bootstrap"]
    assert list(bootstrap["systems"]) == ["model", "network", "companion", "baseline", "keyword_rule"]
    rows = [json.loads(line) for line in (output / "predictions.jsonl").read_text().splitlines()]
    labels = [r["label"] for r in rows]
    assert bootstrap["systems"]["network"]["auroc"]["point"] == pytest.approx(
        roc_auc_score(labels, [r["uncalibrated"] for r in rows])
    )
    assert bootstrap["systems"]["companion"]["average_precision"]["point"] == pytest.approx(
        average_precision_score(labels, [r["companion"] for r in rows])
    )
    assert bootstrap["systems"]["model"]["auroc"]["point"] == pytest.approx(result["model"]["auroc"])
    # the stack is the calibration of its two inputs, row by row
    fitted = json.loads((stacked_run / "calibration.json").read_text())
    for r in rows[:20]:
        expected = calibration.apply(fitted, calibration.margin(r["uncalibrated"]), r["companion"])
        assert r["probability"] == pytest.approx(expected, abs=1e-6)
    printed = out.getvalue()
    assert "model − network alone: AUROC" in printed and "model − companion regression: AP" in printed
