"""The attribute tagger's evaluation with its bootstrap: per-row counts that sum to the micro figures,
micro-F1 intervals and paired differences (model − phrase tagger, model − TF-IDF + LR) per subset,
resampled by product, beside the figures it already had, unchanged."""

import json
from pathlib import Path

import numpy as np
import pytest

from plm import attributes_model as am
from plm import evaluation
from plm.attributes import PhraseTagger, load_taxonomy

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "attributes-backoff"


@pytest.fixture(scope="module")
def taxonomy():
    return load_taxonomy()


@pytest.fixture(scope="module")
def split(taxonomy):
    """Real hand-labelled sentences, a slice of each split (as tests/plm/test_attribute_backoff.py takes them)."""
    rows = am.load_sentences(taxonomy=taxonomy)
    return {
        "train": [r for r in rows if r["split"] == "train"][:300],
        "validation": [r for r in rows if r["split"] == "validation"][:80],
        "test": [r for r in rows if r["split"] == "test"][:80],
    }


class Oracle:
    """A "model" that answers each known sentence's gold labels."""

    def __init__(self, rows):
        self.gold = {r["text"]: r["labels"] for r in rows}

    def tag(self, texts):
        return [{a: (v, 1.0) for a, v in self.gold.get(t, {}).items()} for t in texts]


class Phrases:
    """The phrase tagger as the "model": every resample's difference from itself is nothing."""

    def __init__(self, taxonomy):
        self.tagger = PhraseTagger(taxonomy)

    def tag(self, texts):
        return [self.tagger.tag(t) for t in texts]


def test_row_counts_sum_to_the_micro_counts_and_give_the_same_micro_f1(split, taxonomy):
    rows = split["test"]
    gold, ids = [r["labels"] for r in rows], [a.id for a in taxonomy]
    predicted = Phrases(taxonomy).tag([r["text"] for r in rows])
    counts = np.array(am.row_counts(gold, predicted, ids))
    figures = am.evaluate(gold, predicted, ids)
    assert counts.shape == (len(rows), 3)
    assert counts.sum(axis=0).tolist() == [figures["tp"], figures["fp"], figures["fn"]]
    result = evaluation.paired_bootstrap_micro_f1({"phrases": counts}, rounds=50)
    assert result["systems"]["phrases"]["micro_f1"]["point"] == pytest.approx(figures["micro_f1"], abs=1e-12)


def test_the_evaluation_holds_intervals_and_differences_per_subset_resampled_by_product(split, taxonomy):
    printed = []
    evaluation_ = am.evaluate_all(Oracle(split["test"]), split, taxonomy, log=printed.append)["evaluation"]
    plain = am.evaluate_all(Oracle(split["test"]), split, taxonomy, log=lambda _: None, bootstrap=0)["evaluation"]
    assert "bootstrap" not in plain and evaluation_["subsets"] == plain["subsets"]  # no figure changed
    assert set(evaluation_["subsets"]["all"]) == {"model", "phrase_tagger", "tfidf_lr"}
    for subset, keep in am.SUBSETS:
        rows = [r for r in split["test"] if keep(r)]
        result = evaluation_["bootstrap"][subset]
        assert result["rounds"] == 1000 == result["used"] and result["seed"] == 0 and result["level"] == 0.95
        assert result["resampled_by"] == "product" and result["units"] == len({r["product_id"] for r in rows})
        assert result["reference"] == "model" and set(result["differences"]) == {"phrase_tagger", "tfidf_lr"}
        for name, figures in evaluation_["subsets"][subset].items():
            interval = result["systems"][name]["micro_f1"]
            assert interval["point"] == pytest.approx(figures["micro_f1"], abs=1e-12)
            assert interval["low"] <= interval["point"] <= interval["high"]
        assert result["systems"]["model"]["micro_f1"] == {"point": 1.0, "low": 1.0, "high": 1.0}
        for name in ("phrase_tagger", "tfidf_lr"):
            difference = result["differences"][name]["micro_f1"]
            assert 0 < difference["low"] <= difference["point"] <= difference["high"]
            assert difference["share_better"] == 1.0
            assert difference["point"] == pytest.approx(1 - evaluation_["subsets"][subset][name]["micro_f1"])
    table = printed[0]
    assert table == am.report_table(evaluation_)
    assert table.count("model − phrase tagger: micro-F1 +") == 2 and table.count("model − TF-IDF + LR: micro-F1 +") == 2
    assert table.count("95 % bootstrap intervals: 1000 resamples by product") == 2
    # the table without the bootstrap is the one it was: the interval lines come in between
    assert [line for line in table.splitlines() if line in am.report_table(plain).splitlines()] == (
        am.report_table(plain).splitlines()
    )
    json.dumps(evaluation_)  # it goes into metrics.json as it is


def test_rows_without_a_product_are_resampled_by_sentence_and_differences_are_paired(split, taxonomy):
    rows = [dict(r) for r in split["test"]]
    rows[0]["product_id"] = ""
    evaluation_ = am.evaluate_all(
        Phrases(taxonomy), {**split, "test": rows}, taxonomy, log=lambda _: None, bootstrap=200
    )["evaluation"]
    result = evaluation_["bootstrap"]["all"]
    assert result["resampled_by"] == "sentence" and result["units"] == len(rows) and result["rounds"] == 200
    difference = result["differences"]["phrase_tagger"]["micro_f1"]
    assert difference == {"point": 0.0, "low": 0.0, "high": 0.0, "share_better": 0.0}
    only_model = am.evaluate_all(Phrases(taxonomy), split, taxonomy, compare=False, log=lambda _: None)
    assert only_model["evaluation"]["bootstrap"]["all"]["differences"] == {}


def test_an_evaluation_saved_before_the_bootstrap_still_prints():
    metrics = json.loads((SHIPPED / "metrics.json").read_text(encoding="utf-8"))
    saved = {key: value for key, value in metrics["evaluation"].items() if key != "bootstrap"}
    table = am.report_table(saved)
    assert "phrase tagger" in table and "bootstrap" not in table
