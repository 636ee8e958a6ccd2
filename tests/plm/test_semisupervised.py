"""The strong baseline beside the model, semi-supervised fine-tuning and calibration."""

import io
import json
import math
import random

import numpy as np
import pytest
from django.core.management import call_command
from sklearn.metrics import average_precision_score, roc_auc_score

from plm import calibration, datasets, semisupervised
from plm.beauty import norm_space
from plm.evaluation import expected_calibration_error
from tests import tiny

pytestmark = pytest.mark.django_db


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture(scope="module")
def unused_set():
    return datasets.load_unused()


def pool_file(path, unused_set, extra=()):
    """A JSONL pool: a test-split product's review, a test text (re-spaced), a train text, and fresh reviews."""
    test = [i for i, s in enumerate(unused_set.splits) if s == "test"]
    train = [i for i, s in enumerate(unused_set.splits) if s == "train"]
    rows = [
        {"text": "테스트 상품에 달린 새 리뷰예요 아직 안 써봤어요", "product_id": unused_set.groups[test[0]]},
        {"text": "  " + unused_set.texts[test[1]].replace(" ", "  ") + " ", "product_id": "oy-elsewhere-1"},
        {"text": unused_set.texts[train[0]], "product_id": "oy-elsewhere-2"},
        *extra,
    ]
    fresh = [
        "배송 빠르고 포장 꼼꼼해요 아직 사용 전이에요",
        "촉촉하고 순해서 매일 바르고 있어요",
        "선물용으로 샀어요 써보고 후기 남길게요",
        "끈적임 없이 흡수가 빨라요 재구매 의사 있어요",
        "향이 좋고 발림성이 좋아요",
        "아직 개봉 안 했는데 기대돼요",
    ] * 4
    rows += [
        {"good_text": f"{text} ({n})", "bad_text": "", "product": {"external_id": f"oy-new-{n}"}}
        for n, text in enumerate(fresh)
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path, len(fresh)


def test_the_pool_never_holds_a_test_product_or_a_labelled_text(tmp_path, unused_set):
    path, fresh = pool_file(tmp_path / "pool.jsonl", unused_set)
    rows, info = semisupervised.build_pool(str(path), unused_set)
    assert len(rows) == info["size"] == fresh
    assert info["dropped"] == {"empty": 0, "test_product": 1, "labelled_text": 2, "duplicate": 0}
    assert all(r["product_id"].startswith("oy-new-") for r in rows)


def test_the_shared_pool_leaves_out_every_test_product_and_labelled_text(unused_set):
    rows, info = semisupervised.build_pool("shared", unused_set)
    test_products = {g for g, s in zip(unused_set.groups, unused_set.splits) if s == "test"}
    labelled = {norm_space(t) for t in unused_set.texts}
    assert info["size"] == len(rows) > 15_000
    assert info["dropped"]["test_product"] > 0 and info["dropped"]["labelled_text"] > 0
    assert not any(r["product_id"] in test_products for r in rows)
    assert not any(norm_space(r["text"]) in labelled for r in rows)


def crop_candidates(rows):
    return semisupervised.sentence_crops(rows, 100)


def test_sentence_crops_are_runs_of_a_pooled_reviews_sentences_under_the_same_leak_rules(tmp_path, unused_set):
    test_rows = [i for i, s in enumerate(unused_set.splits) if s == "test"]
    test_product = unused_set.groups[test_rows[0]]
    test_text = next(
        unused_set.texts[i] for i in test_rows if "." not in unused_set.texts[i] and len(unused_set.texts[i]) < 40
    )
    reviews = [
        # a test-split product: neither the review nor any crop of it may enter
        {"text": "테스트 상품이에요. 아직 안 써봤어요. 배송은 빨라요.", "product_id": test_product},
        # one sentence of this review is a labelled test text: that crop is left out
        {"text": f"포장이 꼼꼼했어요. {test_text}. 다음에 또 살게요.", "product_id": "oy-new-a"},
        {"text": "촉촉해요. 순해요. 향이 좋아요. 재구매할게요.", "product_id": "oy-new-b"},
        {"text": "한 문장뿐인 리뷰예요", "product_id": "oy-new-c"},
    ]
    path = tmp_path / "pool.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in reviews) + "\n", encoding="utf-8")

    plain, _ = semisupervised.build_pool(str(path), unused_set)
    rows, info = semisupervised.build_pool(str(path), unused_set, crops=20)

    assert rows[: len(plain)] == plain and info["reviews"] == len(plain) == 3
    crops = rows[len(plain) :]
    assert info["crops"] == len(crops) > 0 and info["size"] == len(rows)
    assert not any(r["product_id"] == test_product for r in rows)
    # the splitter ends the crop with a full stop: the labelled text still keeps it out
    assert semisupervised.leak_key(test_text) in {semisupervised.leak_key(r["text"]) for r in crop_candidates(plain)}
    assert not any(semisupervised.leak_key(r["text"]) == semisupervised.leak_key(test_text) for r in rows)
    labelled = {semisupervised.leak_key(t) for t in unused_set.texts}
    assert not any(semisupervised.leak_key(r["text"]) in labelled for r in crops)
    by_product = {r["product_id"]: r["text"] for r in plain}
    for crop in crops:
        whole = by_product[crop["product_id"]]
        assert crop["product_id"] != "oy-new-c", "a one-sentence review has no crop"
        assert norm_space(crop["text"]) != norm_space(whole)
        assert all(part in whole for part in crop["text"].split(" "))
    # 4 sentences make 9 strict runs (4 + 3 + 2); 20 asked for, so each run once
    assert sum(r["product_id"] == "oy-new-b" for r in crops) == 9
    assert len({semisupervised.leak_key(r["text"]) for r in rows}) == len(rows)


def test_the_pool_compares_texts_with_the_labelled_ones_whatever_their_punctuation(tmp_path, unused_set):
    train = [i for i, s in enumerate(unused_set.splits) if s == "train"]
    text = unused_set.texts[train[0]]
    variants = [text + "!!", text.upper() + " .", "~" + text.replace(" ", "  ")]
    path = tmp_path / "pool.jsonl"
    rows = [{"text": v, "product_id": "oy-new"} for v in variants] + [
        {"text": "새로운 리뷰예요", "product_id": "oy-new"}
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    kept, info = semisupervised.build_pool(str(path), unused_set)
    assert [r["text"] for r in kept] == ["새로운 리뷰예요"]
    assert info["dropped"]["labelled_text"] == 3


def test_extra_labels_join_train_and_validation_and_never_the_hand_labelled_test(tmp_path):
    """Reviewers' decisions (export_decisions' rows) beside the hand labels: the test split stays the hand
    labels' own, a product keeps the split the hand labels give it, and a hand label beats a decision."""
    from plm.splits import stable_split

    hand = datasets.read_table(datasets.unused_set_dir() / "reviews.jsonl")
    # a hand-labelled test product that the decisions' own hash would put in train
    test_product = next(
        r["product_id"] for r in hand if r["split"] == "test" and stable_split(r["product_id"]) == "train"
    )
    labelled_text = next(r["text"] for r in hand if r["split"] == "train")
    decision = lambda text, label, product, split: {  # noqa: E731
        "text": text,
        "label": label,
        "product_id": product,
        "split": split,
        "source": "decisions:unused",
    }
    month1 = tmp_path / "decisions-1.jsonl"
    rows1 = [
        decision("새 상품 리뷰예요 아직 안 써봤어요", "used", "app-product-1", "train"),
        decision("검수자가 본 리뷰 하나", "used", "app-product-2", "validation"),
        decision("테스트 상품의 새 리뷰, 써보고 남길게요", "unused", test_product, "train"),
        decision("앱의 테스트 분할 상품", "unused", "app-product-3", "test"),
        decision("  " + labelled_text.replace(" ", "  ") + "!", "unused", "app-product-1", "train"),
    ]
    month1.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows1), encoding="utf-8")
    month2 = tmp_path / "decisions-2.jsonl"
    month2.write_text(  # the newer decision on a review decided last month too
        json.dumps(
            decision("새 상품 리뷰예요, 아직 안 써봤어요", "unused", "app-product-1", "train"), ensure_ascii=False
        )
        + "\n",
        encoding="utf-8",
    )
    rows, report = datasets.merge_extra_labels(hand, [month1, month2])
    assert rows[: len(hand)] == hand  # the hand labels as they are
    added = rows[len(hand) :]
    assert [(r["text"], r["label"], r["split"]) for r in added] == [
        ("검수자가 본 리뷰 하나", "used", "validation"),
        ("새 상품 리뷰예요, 아직 안 써봤어요", "unused", "train"),
    ]
    assert report["read"] == 6 and report["added"] == {"train": 1, "validation": 1}
    assert report["left_out"] == {"test_split": 2, "already_labelled": 1, "repeated": 1}
    assert added[0]["selected_by"] == "extra:decisions-1.jsonl"
    merged = datasets.from_rows(
        rows, "text", "label", ["used", "unused"], group_key="product_id", label_map=datasets.unused_label_map()
    )
    test = [t for t, s in zip(merged.texts, merged.splits) if s == "test"]
    assert sorted(test) == sorted(r["text"] for r in hand if r["split"] == "test" and r["label"] in ("used", "unused"))

    bad = tmp_path / "bad.jsonl"
    for line, message in (
        ('{"text": "좋아요", "label": "spam", "product_id": "p"}', r"bad.jsonl:2: label 'spam' is not one of"),
        ('{"text": "좋아요", "label": "used"}', r"bad.jsonl:2: needs 'text' and 'product_id' strings"),
        ("not json", r"bad.jsonl:2: not valid JSON"),
    ):
        bad.write_text(json.dumps(decision("괜찮아요", "used", "p", "train"), ensure_ascii=False) + "\n" + line + "\n")
        with pytest.raises(datasets.DatasetError, match=message):
            datasets.merge_extra_labels(hand, [bad])
    with pytest.raises(datasets.DatasetError, match="missing.jsonl: cannot read it"):
        datasets.merge_extra_labels(hand, [tmp_path / "missing.jsonl"])


def test_a_pool_with_nothing_left_is_a_clear_error(tmp_path, unused_set):
    path = tmp_path / "pool.jsonl"
    path.write_text(json.dumps({"text": unused_set.texts[0]}, ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(semisupervised.PoolError, match="no unlabelled review is left"):
        semisupervised.build_pool(str(path), unused_set)
    with pytest.raises(semisupervised.PoolError, match="not 'shared', 'reviews' or a JSONL file"):
        semisupervised.build_pool(str(tmp_path / "missing.jsonl"), unused_set)


def tiny_semi_supervised(model_dir, output, pool, *flags, **kwargs):
    """`finetune_unused` on a subsample (300 train, 150 validation and 150 test examples) with `pool` scored by
    the baseline teacher, plus `flags`."""
    subsample = ("--max-train", "300", "--max-eval", "150")
    return tiny.finetune_unused(
        model_dir, output, *subsample, "--unlabelled", str(pool), "--teacher", "baseline", *flags, **kwargs
    )


@pytest.fixture(scope="module")
def semi_supervised_run(tmp_path_factory, tiny_classifier_dir, unused_set):
    """A tiny semi-supervised fine-tuning run on a subsample of the hand-labelled set."""
    work = tmp_path_factory.mktemp("semi")
    path, _ = pool_file(work / "pool.jsonl", unused_set)
    out = io.StringIO()
    tiny_semi_supervised(tiny_classifier_dir, work / "model", path, stdout=out)
    return work / "model", out.getvalue()


def test_semi_supervised_training_records_its_teacher_and_pool(semi_supervised_run):
    model_dir, printed = semi_supervised_run
    metrics = json.loads((model_dir / "metrics.json").read_text())
    semi = metrics["semi_supervised"]
    assert semi["size"] == 24 and semi["source"].endswith("pool.jsonl")
    assert semi["dropped"]["test_product"] == 1
    assert [t["teacher"] for t in semi["teachers"]] == ["baseline"]
    assert semi["teachers"][0]["trained_on"] == "train split"
    assert "unlabelled pool" in printed and "teacher baseline" in printed


def test_the_baseline_and_the_rule_are_reported_beside_the_model_on_the_same_rows(semi_supervised_run):
    model_dir, printed = semi_supervised_run
    metrics = json.loads((model_dir / "metrics.json").read_text())
    rows = [r for r in read_jsonl(model_dir / "predictions.jsonl") if r["split"] == "test"]
    labels = [r["label"] for r in rows]
    assert len(rows) == metrics["test"]["examples"] == metrics["examples"]["test"]
    # every figure is recomputed from the saved predictions
    assert metrics["baseline"]["test"]["auroc"] == pytest.approx(roc_auc_score(labels, [r["baseline"] for r in rows]))
    assert metrics["baseline"]["test"]["average_precision"] == pytest.approx(
        average_precision_score(labels, [r["baseline"] for r in rows])
    )
    assert metrics["keyword_rule"]["test"]["auroc"] == pytest.approx(
        roc_auc_score(labels, [r["keyword_rule"] for r in rows])
    )
    assert metrics["test"]["auroc"] == pytest.approx(roc_auc_score(labels, [r["probabilities"][1] for r in rows]))
    assert metrics["test"]["ece"] == pytest.approx(expected_calibration_error(labels, [r["calibrated"] for r in rows]))
    assert metrics["baseline"]["model"]["analyzer"] == "char_wb"
    # the printed table and the model card show all three
    for text in (printed, (model_dir / "README.md").read_text()):
        assert "baseline" in text and "keyword rule" in text
    assert (model_dir / "calibration.json").exists()
    assert (model_dir / "pr_curve.png").stat().st_size > 1000  # model, baseline, morpheme LR and rule


def test_evaluate_classifier_reports_the_baseline_and_calibration_before_and_after(semi_supervised_run, tmp_path):
    model_dir, _ = semi_supervised_run
    out = io.StringIO()
    call_command("evaluate_classifier", str(model_dir), "--output", str(tmp_path / "eval"), stdout=out)
    result = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    rows = read_jsonl(tmp_path / "eval" / "predictions.jsonl")
    labels = [r["label"] for r in rows]
    assert result["baseline"]["auroc"] == pytest.approx(roc_auc_score(labels, [r["baseline"] for r in rows]))
    assert result["model"]["ece_uncalibrated"] == pytest.approx(
        expected_calibration_error(labels, [r["uncalibrated"] for r in rows])
    )
    printed = out.getvalue()
    assert "baseline" in printed and "before calibration" in printed
    assert (tmp_path / "eval" / "pr_curve.png").stat().st_size > 0


def overconfident(n=3000, seed=0):
    """Labels drawn with probability q, and a model that says logit(q) × 4: right order, far too sure."""
    rng = random.Random(seed)
    q = [rng.uniform(0.02, 0.98) for _ in range(n)]
    labels = [int(rng.random() < p) for p in q]
    margins = [4 * math.log(p / (1 - p)) for p in q]
    return margins, labels


@pytest.mark.parametrize("method", ["platt", "temperature", "isotonic"])
def test_calibration_lowers_the_error_of_an_overconfident_model(method):
    margins, labels = overconfident()
    fit_margins, fit_labels, test_margins, test_labels = margins[:1500], labels[:1500], margins[1500:], labels[1500:]
    fitted = calibration.fit(fit_margins, fit_labels, method)
    raw = [calibration.apply(None, d) for d in test_margins]
    calibrated = [calibration.apply(fitted, d) for d in test_margins]
    before, after = expected_calibration_error(test_labels, raw), expected_calibration_error(test_labels, calibrated)
    assert before > 0.1
    assert after < 0.05 and after < before / 3
    # a monotone map: the ranking (and so AUROC) is unchanged
    assert roc_auc_score(test_labels, calibrated) == pytest.approx(
        roc_auc_score(test_labels, raw), abs=0.01 if method == "isotonic" else 1e-9
    )


def test_workers_apply_the_directorys_calibration(tiny_classifier_dir, tmp_path):
    import shutil

    from moderation import scoring

    model_dir = tmp_path / "m"
    shutil.copytree(tiny_classifier_dir, model_dir)
    texts = ["아직 안 써봤어요", "촉촉하고 좋아요", "배송 빨라요"]
    model, tokenizer, max_length = scoring.load_model_dir(model_dir)
    raw = scoring.predict_proba(model, tokenizer, texts, max_length)
    calibration.save(model_dir, {"method": "platt", "scale": 0.0, "bias": math.log(0.3 / 0.7)})
    model, tokenizer, max_length = scoring.load_model_dir(model_dir)
    assert scoring.predict_proba(model, tokenizer, texts, max_length) == pytest.approx([0.3] * 3)
    assert scoring.predict_proba(model, tokenizer, texts, max_length, calibrated=False) == pytest.approx(raw, abs=1e-6)
    (model_dir / "calibration.json").write_text('{"method": "magic"}')
    with pytest.raises(scoring.ModelLoadError, match="'method' must be one of"):
        scoring.load_model_dir(model_dir)


def test_calibration_needs_both_classes():
    with pytest.raises(calibration.CalibrationError, match="both classes"):
        calibration.fit([0.1, 0.2], [1, 1])
    assert np.isclose(calibration.margin(0.5), 0.0)
