"""Invariants of the hand-labelled unused-review set in data/labelled/unused/."""

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from tests.scripts import load_script

ROOT = Path(__file__).resolve().parent.parent
SET_DIR = ROOT / "data" / "labelled" / "unused"
KEYS = {"text", "good_text", "bad_text", "label", "product_id", "split", "source", "source_ref", "selected_by"}
LABELS = {"unused", "used", "gift", "unclear"}
SPLITS = {"train", "validation", "test"}
ROUND2_ROUTES = {
    "random2",
    "top:baseline",
    "uncertain:baseline",
    "disagree:baseline-word",
    "random3",
    "disagree:baseline-electra",
    "top:electra",
    "uncertain:electra",
}
SOURCES = {
    "oliveyoung_cream_essence_reviews",
    "oliveyoung_cream_reviews",
    "oliveyoung_suncare_reviews",
    "oliveyoung_sunscreen_reviews_2026",
}


@pytest.fixture(scope="module")
def rows():
    with (SET_DIR / "reviews.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="module")
def build():
    return load_script(SET_DIR / "build.py", "labelled_unused_build")


def test_size_and_unused_count(rows):
    labels = Counter(r["label"] for r in rows)
    assert len(rows) >= 3500
    assert labels["unused"] >= 350
    routes = Counter(r["selected_by"] for r in rows)
    assert sum(routes[r] for r in ROUND2_ROUTES) >= 3400
    assert routes["random2"] >= 300  # a random slice keeps prevalence estimates honest


def test_schema(rows):
    for r in rows:
        assert set(r) == KEYS, r["source_ref"]
        assert r["label"] in LABELS
        assert r["split"] in SPLITS
        assert r["source"] in SOURCES
        assert isinstance(r["text"], str) and r["text"] == r["text"].strip() and r["text"]
        assert r["good_text"] == r["text"]
        assert r["bad_text"] == ""
        assert r["product_id"].startswith("oy-")
        assert r["selected_by"] in ROUND2_ROUTES or r["selected_by"] == "random" or r["selected_by"].startswith("cue:")


def test_no_duplicate_text_or_reference(rows):
    texts = Counter(" ".join(r["text"].split()) for r in rows)
    assert max(texts.values()) == 1
    refs = Counter(r["source_ref"] for r in rows)
    assert max(refs.values()) == 1


def test_no_product_in_two_splits(rows):
    splits = defaultdict(set)
    for r in rows:
        splits[r["product_id"]].add(r["split"])
    assert all(len(s) == 1 for s in splits.values())


def test_every_split_has_unused_examples(rows):
    table = Counter((r["split"], r["label"]) for r in rows)
    for split in SPLITS:
        assert table[(split, "unused")] >= 25, split
    sizes = Counter(r["split"] for r in rows)
    assert sizes["train"] > sizes["validation"] and sizes["train"] > sizes["test"]


def test_file_is_the_merge_of_the_labels(rows, build):
    """reviews.jsonl is exactly what build.py merge makes from labels.tsv + candidates.jsonl."""
    assert build.build_rows() == rows


def test_assign_splits_keeps_products_whole(build):
    rows = []
    for p in range(40):
        for i in range(5):
            label = "unused" if (p % 4 == 0 and i == 0) else "used"
            rows.append(
                {"product_id": f"oy-x-{p}", "label": label, "text": f"리뷰 {p}번 {i}째 " * 12, "selected_by": "random"}
            )
    # a near-duplicate text on another product ties the two products together
    rows.append(
        {"product_id": "oy-x-99", "label": "used", "text": "리뷰 0번 0째 " * 12 + "끝", "selected_by": "random"}
    )
    split_of = build.assign_splits(rows)
    assert set(split_of.values()) == SPLITS
    assert split_of["oy-x-99"] == split_of["oy-x-0"]
    unused_split = Counter(split_of[r["product_id"]] for r in rows if r["label"] == "unused")
    assert all(unused_split[s] >= 1 for s in SPLITS)


def test_later_rounds_keep_known_splits_and_hash_new_products(build):
    """Round 2 never moves a round-1 product; a new product takes the project's one stable hash
    (the rule moderation.training_data uses too), or the split of a product it shares a text with."""
    from moderation.training_data import split_for_product
    from plm.splits import stable_split

    first = [
        {
            "product_id": f"oy-x-{p}",
            "label": "unused" if p % 3 == 0 else "used",
            "text": f"첫 라운드 {p}번 리뷰 " * 8,
            "selected_by": "random",
        }
        for p in range(30)
    ]
    before = build.assign_splits(first)
    second = [
        {
            "product_id": f"oy-new-{p}",
            "label": "used",
            "text": f"둘째 라운드 {p}번 리뷰 " * 8,
            "selected_by": "top:baseline",
        }
        for p in range(30)
    ]
    second.append(
        {"product_id": "oy-x-1", "label": "unused", "text": "알려진 상품의 새 리뷰 " * 8, "selected_by": "random2"}
    )
    second.append(
        {"product_id": "oy-linked", "label": "used", "text": "첫 라운드 4번 리뷰 " * 8 + "끝", "selected_by": "random2"}
    )
    after = build.assign_splits(first + second)
    assert all(after[p] == s for p, s in before.items())
    for p in range(30):
        assert after[f"oy-new-{p}"] == stable_split(f"oy-new-{p}", build.NEW_PRODUCT_FRACTIONS)
    assert after["oy-linked"] == before["oy-x-4"]
    assert stable_split("oy-abc", (0.8, 0.1, 0.1)) == split_for_product("oy-abc")
