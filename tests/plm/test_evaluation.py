"""evaluate_classifier and plm.evaluation, checked against scikit-learn on the same predictions."""

import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command
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


def labelled_file(path, rows, products=True, train_every=0):
    """The sample reviews in the labelled-set format, in the test split (every `train_every`th in train):
    unused where the keyword rule matches and every ninth review (rule misses); with or without products."""
    cues = evaluation.keyword_rule_scores([r["good_text"] for r in rows])
    with open(path, "w", encoding="utf-8") as f:
        for i, (row, cue) in enumerate(zip(rows, cues)):
            record = {
                "text": row["good_text"],
                "good_text": row["good_text"],
                "bad_text": "",
                "label": "unused" if cue or i % 9 == 0 else "used",
                "product_id": row["product"]["external_id"] if products else "",
                "split": "train" if train_every and i % train_every == 1 else "test",
                "source": "sample",
                "source_ref": f"reviews.jsonl:{i}",
            }
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def test_evaluate_classifier_command_writes_json_and_plots_that_match_scikit_learn(
    tiny_classifier_dir, tmp_path, capsys
):
    """A labelled file in the labelled-set format; the numbers are recomputed from the model's own probabilities."""
    from matplotlib.image import imread

    from moderation.scoring import load_model_dir, predict_proba

    rows = tiny.sample_reviews(300)
    cues = evaluation.keyword_rule_scores([r["good_text"] for r in rows])
    data = labelled_file(tmp_path / "labelled.jsonl", rows)
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


# --- the paired bootstrap -------------------------------------------------------------------


def test_resamples_are_seeded_and_a_cluster_resample_keeps_each_product_whole():
    sizes = [1, 2, 3, 5, 8, 13]
    product = np.random.default_rng(0).permutation([g for g, size in enumerate(sizes) for _ in range(size)])
    groups = [f"p{g}" for g in product]  # a product's rows are scattered through the file
    labels = product % 2  # one label per product
    n = len(groups)
    resamples = evaluation.resample_indices(n, 300, groups, seed=5)
    assert len(resamples) == 300
    for rows in resamples:
        multiplicity = np.bincount(rows, minlength=n)
        drawn = {}
        for row, group in enumerate(groups):  # every row of a product as often as the product was drawn
            assert drawn.setdefault(group, multiplicity[row]) == multiplicity[row]
        assert sum(drawn.values()) == len(sizes)  # as many draws as products
        assert len(rows) == sum(size * drawn[f"p{g}"] for g, size in enumerate(sizes))
        assert labels[rows].sum() == sum(size * drawn[f"p{g}"] for g, size in enumerate(sizes) if g % 2)
    assert len({len(rows) for rows in resamples}) > 5  # the size varies with the products drawn
    again = evaluation.resample_indices(n, 300, groups, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(resamples, again))
    other = evaluation.resample_indices(n, 300, groups, seed=6)
    assert not all(len(a) == len(b) and np.array_equal(a, b) for a, b in zip(resamples, other))
    plain = evaluation.resample_indices(n, 50, seed=5)
    assert all(len(rows) == n and rows.min() >= 0 and rows.max() < n for rows in plain)
    assert len({tuple(rows) for rows in plain}) == 50
    with pytest.raises(ValueError, match="groups for"):
        evaluation.resample_indices(n, 10, groups[:-1])


def test_the_vectorised_auroc_and_ap_are_scikit_learns_on_each_resample(predictions):
    labels, scores = predictions
    tied = np.round(scores, 1)  # many ties, as a coarse score has
    rule = (scores > 0.6).astype(float)  # two values only, as the keyword rule has
    groups = [i // 10 for i in range(len(labels))]
    resamples = evaluation.resample_indices(len(labels), 40, groups, seed=1)
    weights = np.stack([np.bincount(rows, minlength=len(labels)) for rows in resamples]).astype(float)
    for s in (scores, tied, rule):
        auroc, ap = evaluation._auroc_ap(labels, s, weights)
        for k, rows in enumerate(resamples):
            assert auroc[k] == pytest.approx(roc_auc_score(labels[rows], s[rows]), abs=1e-12)
            assert ap[k] == pytest.approx(average_precision_score(labels[rows], s[rows]), abs=1e-12)


def test_identical_scorers_differ_by_exactly_nothing(predictions):
    labels, scores = predictions
    result = evaluation.paired_bootstrap(labels, {"model": scores, "copy": scores.copy()}, rounds=200)
    for metric in ("auroc", "average_precision"):
        difference = result["differences"]["copy"][metric]
        assert difference == {"point": 0.0, "low": 0.0, "high": 0.0, "share_better": 0.0}
    assert result["reference"] == "model" and result["used"] == 200 and result["resampled_by"] == "row"


def test_a_perfect_scorer_is_ahead_of_a_random_one_in_every_resample(predictions):
    labels, _ = predictions
    perfect = labels + np.random.default_rng(2).random(len(labels)) * 0.5
    noise = np.random.default_rng(3).random(len(labels))
    result = evaluation.paired_bootstrap(labels, {"random": noise, "perfect": perfect}, reference="perfect", rounds=300)
    assert result["systems"]["perfect"]["auroc"] == {"point": 1.0, "low": 1.0, "high": 1.0}
    for metric in ("auroc", "average_precision"):
        difference = result["differences"]["random"][metric]
        assert 0 < difference["low"] <= difference["point"] <= difference["high"]
        assert difference["share_better"] == 1.0
    text = evaluation.format_bootstrap(result, {"perfect": "model", "random": "coin"})
    assert "model − coin: AUROC +" in text and "higher in 100.0 % of 300 resamples by row" in text
    assert "model  AUROC 1.000 (95 % 1.000–1.000)" in text


def test_points_are_scikit_learns_and_intervals_hold_them_and_narrow_with_more_rows():
    rng = np.random.default_rng(11)
    widths = []
    for n in (200, 3000):
        labels = (rng.random(n) < 0.25).astype(int)
        scores = {"model": 0.8 * labels + rng.normal(0, 0.5, n), "baseline": 0.5 * labels + rng.normal(0, 0.5, n)}
        groups = [i // 5 for i in range(n)]
        result = evaluation.paired_bootstrap(labels, scores, groups=groups, unit="product", rounds=400, seed=3)
        assert result["units"] == n // 5 and result["resampled_by"] == "product"
        for name, s in scores.items():
            auroc, ap = result["systems"][name]["auroc"], result["systems"][name]["average_precision"]
            assert auroc["point"] == roc_auc_score(labels, s) and ap["point"] == average_precision_score(labels, s)
            assert auroc["low"] < auroc["point"] < auroc["high"] and ap["low"] < ap["point"] < ap["high"]
        difference = result["differences"]["baseline"]["auroc"]
        assert difference["point"] == pytest.approx(
            roc_auc_score(labels, scores["model"]) - roc_auc_score(labels, scores["baseline"])
        )
        assert difference["low"] < difference["point"] < difference["high"]
        widths.append(result["systems"]["model"]["auroc"]["high"] - result["systems"]["model"]["auroc"]["low"])
        assert result == evaluation.paired_bootstrap(labels, scores, groups=groups, unit="product", rounds=400, seed=3)
    assert widths[1] < widths[0] / 2  # 15 times the rows: about a quarter of the width


def test_resamples_with_one_class_are_left_out_and_counted():
    labels = np.array([1] + [0] * 11)
    scores = np.linspace(1, 0, 12)
    result = evaluation.paired_bootstrap(labels, {"a": scores, "b": scores[::-1]}, rounds=200, seed=4)
    holding = sum(1 for rows in evaluation.resample_indices(12, 200, seed=4) if labels[rows].any())
    assert result["used"] == holding < 200 and result["rounds"] == 200
    assert f"{200 - holding} holding one class left out" in evaluation.format_bootstrap(result)
    one_class = evaluation.paired_bootstrap([0, 0, 0], {"a": [0.1, 0.2, 0.3]}, rounds=20)
    assert one_class["used"] == 0 and one_class["systems"]["a"]["auroc"] == {"point": None, "low": None, "high": None}


def test_micro_f1_from_counts_and_its_paired_differences():
    rng = np.random.default_rng(8)
    n = 400
    gold = rng.integers(0, 3, n)
    good = np.stack([gold, rng.integers(0, 2, n), rng.integers(0, 2, n) * (gold > 0)], axis=1)  # tp, fp, fn
    poor = np.stack([gold // 2, rng.integers(0, 3, n), gold - gold // 2], axis=1)
    groups = [f"p{i // 8}" for i in range(n)]
    result = evaluation.paired_bootstrap_micro_f1({"good": good, "poor": poor}, groups=groups, unit="product")
    for name, counts in (("good", good), ("poor", poor)):
        tp, fp, fn = counts.sum(axis=0)
        assert result["systems"][name]["micro_f1"]["point"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
        interval = result["systems"][name]["micro_f1"]
        assert interval["low"] < interval["point"] < interval["high"]
    difference = result["differences"]["poor"]["micro_f1"]
    assert difference["point"] == pytest.approx(
        result["systems"]["good"]["micro_f1"]["point"] - result["systems"]["poor"]["micro_f1"]["point"]
    )
    assert 0 < difference["low"] < difference["point"] < difference["high"] and difference["share_better"] == 1.0
    # each resample's figure is that of its rows' summed counts
    rows = evaluation.resample_indices(n, 1000, groups, seed=0)[17]
    weights = np.bincount(rows, minlength=n)[None, :].astype(float)
    assert evaluation.micro_f1(weights @ good)[0] == pytest.approx(evaluation.micro_f1(good[rows].sum(axis=0)))
    same = evaluation.paired_bootstrap_micro_f1({"a": good, "b": good.copy()}, rounds=100)
    assert same["differences"]["b"]["micro_f1"] == {"point": 0.0, "low": 0.0, "high": 0.0, "share_better": 0.0}
    assert evaluation.micro_f1([0, 0, 0]) == 0.0


def test_evaluate_classifier_prints_and_saves_intervals_by_product(tiny_classifier_dir, tmp_path, capsys):
    rows = tiny.sample_reviews(300)
    output = tmp_path / "evaluation"

    def evaluate(data, rounds):
        call_command(
            "evaluate_classifier", str(tiny_classifier_dir), "--data", str(data), "--output", str(output),
            "--bootstrap", str(rounds),
        )  # fmt: skip
        return json.loads((output / "evaluation.json").read_text()), capsys.readouterr().out

    # a train split for the baseline
    result, printed = evaluate(labelled_file(tmp_path / "labelled.jsonl", rows, train_every=3), 200)
    bootstrap = result["bootstrap"]
    assert bootstrap["rounds"] == 200 and bootstrap["level"] == 0.95 and bootstrap["resampled_by"] == "product"
    tested = [r for i, r in enumerate(rows) if i % 3 != 1]
    assert bootstrap["units"] == len({r["product"]["external_id"] for r in tested}) and bootstrap["used"] == 200
    assert set(bootstrap["systems"]) == {"model", "baseline", "keyword_rule"}
    assert set(bootstrap["differences"]) == {"baseline", "keyword_rule"} and bootstrap["reference"] == "model"
    for name in ("model", "baseline", "keyword_rule"):
        assert bootstrap["systems"][name]["auroc"]["point"] == pytest.approx(result[name]["auroc"])
    assert "95 % bootstrap intervals: 200 resamples by product" in printed
    assert printed.index("threshold precision") < printed.index("bootstrap intervals")  # under the table
    auroc = bootstrap["systems"]["model"]["auroc"]
    assert f"model         AUROC {auroc['point']:.3f} (95 % {auroc['low']:.3f}–{auroc['high']:.3f})" in printed
    assert "model − baseline: AP " in printed and "model − keyword rule: AUROC " in printed
    assert "of 200 resamples by product" in printed

    # without products: by review; --bootstrap 0: none; a negative number: refused by name
    data = labelled_file(tmp_path / "no-products.jsonl", rows, products=False)
    result, printed = evaluate(data, 50)
    bootstrap = result["bootstrap"]
    assert bootstrap["resampled_by"] == "review" and bootstrap["units"] == 300 and bootstrap["rounds"] == 50
    assert "95 % bootstrap intervals: 50 resamples by review (300 reviews)" in printed
    result, printed = evaluate(data, 0)
    assert "bootstrap" not in result and "bootstrap intervals" not in printed
    with pytest.raises(CommandError, match="up to 100,000, not 1000000"):
        call_command("evaluate_classifier", str(tiny_classifier_dir), "--data", str(data), "--bootstrap", "1000000")
    with pytest.raises(CommandError, match="--bootstrap must be 0 .* not -1"):
        call_command("evaluate_classifier", str(tiny_classifier_dir), "--data", str(data), "--bootstrap", "-1")
