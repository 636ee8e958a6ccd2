"""evaluate_classifier and plm.evaluation, checked against scikit-learn on the same predictions."""

import json

import numpy as np
import pytest
from django.core.management import call_command
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score, roc_auc_score

from plm import evaluation
from tests import tiny


@pytest.fixture
def predictions():
    """Labels with a 20% positive rate and scores that rank them imperfectly."""
    rng = np.random.default_rng(7)
    labels = (rng.random(600) < 0.2).astype(int)
    scores = np.clip(0.35 * labels + rng.normal(0.35, 0.2, size=600), 0.001, 0.999)
    return labels, scores


def test_binary_report_matches_scikit_learn(predictions):
    labels, scores = predictions
    report = evaluation.binary_report(labels, scores, ks=(10, 50, 100), thresholds=(0.3, 0.5, 0.7))
    assert report["auroc"] == pytest.approx(roc_auc_score(labels, scores))
    assert report["average_precision"] == pytest.approx(average_precision_score(labels, scores))
    assert report["f1"] == pytest.approx(f1_score(labels, scores >= 0.5))
    for k in (10, 50, 100):
        top = np.zeros_like(labels)
        top[np.argsort(-scores)[:k]] = 1
        assert report["precision_at_k"][str(k)] == pytest.approx(precision_score(labels, top))
    for row in report["thresholds"]:
        flagged = scores >= row["threshold"]
        assert row["precision"] == pytest.approx(precision_score(labels, flagged, zero_division=0))
        assert row["recall"] == pytest.approx(recall_score(labels, flagged))
        assert row["share_above"] == pytest.approx(flagged.mean()) and row["count_above"] == flagged.sum()
    # ECE from scikit-learn's reliability curve (same 10 equal-width bins), weighted by bin size.
    fraction_positive, mean_predicted = calibration_curve(labels, scores, n_bins=10, strategy="uniform")
    counts = np.bincount(np.searchsorted(np.linspace(0, 1, 11)[1:-1], scores), minlength=10)
    expected = np.sum(counts[counts > 0] / len(labels) * np.abs(fraction_positive - mean_predicted))
    assert report["ece"] == pytest.approx(expected)
    assert [r["fraction_positive"] for r in report["calibration"] if r["count"]] == pytest.approx(fraction_positive)


def test_ece_is_zero_for_calibrated_scores_and_large_for_overconfident_ones():
    labels = np.array([0] * 8 + [1] * 2 + [0] * 2 + [1] * 8)
    calibrated = np.array([0.2] * 10 + [0.8] * 10)
    assert evaluation.expected_calibration_error(labels, calibrated) == pytest.approx(0.0)
    overconfident = np.array([0.01] * 10 + [0.99] * 10)
    assert evaluation.expected_calibration_error(labels, overconfident) == pytest.approx(0.19)


def test_keyword_rule_finds_unused_cues_in_real_phrasing():
    unused = [
        "아직 안 써봤는데 기대돼요",
        "사용전입니다 잘 써보고 한달후기 남길게요",
        "미개봉 상태로 쟁여놨어요",
        "아직 개봉전이에요. 써보고 리뷰 다시 남기겠음",
    ]
    used = ["촉촉하고 순해서 매일 잘 쓰고 있어요", "세안 후 사용하니 당김이 없어요", "백탁 없이 잘 발려요"]
    assert evaluation.keyword_rule_scores(unused) == [1.0] * len(unused)
    assert evaluation.keyword_rule_scores(used) == [0.0] * len(used)


def test_evaluate_classifier_command_writes_json_and_plots_that_match_scikit_learn(
    tiny_classifier_dir, tmp_path, capsys
):
    """A labelled file in the labelled-set format; the numbers are recomputed from the model's own probabilities."""
    from matplotlib.image import imread

    from moderation.scoring import load_model_dir, predict_proba

    rows = tiny.sample_reviews(300)
    cues = evaluation.keyword_rule_scores([r["good_text"] for r in rows])
    data = tmp_path / "labelled.jsonl"
    with open(data, "w", encoding="utf-8") as f:
        for i, (row, cue) in enumerate(zip(rows, cues)):
            label = "unused" if cue or i % 9 == 0 else "used"  # cue matches plus some rule misses
            f.write(
                json.dumps(
                    {
                        "text": row["good_text"],
                        "good_text": row["good_text"],
                        "bad_text": "",
                        "label": label,
                        "product_id": row["product"]["external_id"],
                        "split": "test",
                        "source": "sample",
                        "source_ref": f"reviews.jsonl:{i}",
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    output = tmp_path / "evaluation"
    call_command(
        "evaluate_classifier", str(tiny_classifier_dir), "--data", str(data), "--output", str(output), "--k", "10", "50"
    )
    printed = capsys.readouterr().out
    assert "keyword rule" in printed and "threshold" in printed

    result = json.loads((output / "evaluation.json").read_text())
    texts = [r["good_text"] for r in rows]
    labels = [1 if (cue or i % 9 == 0) else 0 for i, cue in enumerate(cues)]
    saved = [json.loads(line) for line in open(output / "predictions.jsonl", encoding="utf-8")]
    assert [p["label"] for p in saved] == labels and [p["text"] for p in saved] == texts
    probabilities = [p["probability"] for p in saved]
    model, tokenizer, max_length = load_model_dir(tiny_classifier_dir)  # the saved scores are the model's
    assert probabilities == pytest.approx(predict_proba(model, tokenizer, texts, max_length), abs=1e-5)
    assert result["model"]["examples"] == 300 and result["model"]["positives"] == sum(labels)
    assert result["model"]["auroc"] == pytest.approx(roc_auc_score(labels, probabilities))
    assert result["model"]["average_precision"] == pytest.approx(average_precision_score(labels, probabilities))
    assert result["model"]["thresholds"][9]["threshold"] == 0.5
    assert result["model"]["thresholds"][9]["recall"] == pytest.approx(
        recall_score(labels, np.array(probabilities) >= 0.5)
    )
    rule = evaluation.keyword_rule_scores(texts)
    assert result["keyword_rule"]["precision"] == pytest.approx(precision_score(labels, rule)) == 1.0
    assert result["keyword_rule"]["recall"] == pytest.approx(recall_score(labels, rule))
    for name in ("pr_curve.png", "reliability.png"):
        image = imread(output / name)
        assert image.shape[0] > 300 and image.shape[1] > 300
