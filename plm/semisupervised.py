"""Semi-supervised fine-tuning: a teacher scores unlabelled reviews, the student learns from both.

Hand labels are few (a few thousand reviews, a few hundred unused); unlabelled
beauty reviews are many. A teacher (the character n-gram baseline trained on the
train split, a model directory, or the mean of several) gives each unlabelled
review a probability, and the student is trained on those soft targets together
with the hard hand labels (`plm.finetune`).

Nothing of the evaluation leaks into the pool: every review of a **test-split
product** and every **labelled text** (whitespace-normalised) is left out, so
the test split stays unseen by teacher and student alike, and the validation
split (on which early stopping and calibration are fitted) never enters the
pool as soft targets.

Pool sources:
- `shared`: the four Olive Young review sets of the shared data (`plm.beauty`);
- a JSONL file with `text` (or `good_text`/`bad_text`) and optionally `product_id`;
- `reviews`: the `Review` table (visible reviews).
"""

import json
import random
import re
from pathlib import Path

from .beauty import norm_space


class PoolError(Exception):
    """An unlabelled source that cannot be read, or a teacher that cannot score."""


def _shared_rows():
    from . import beauty
    from .datasets import shared_data_dir

    try:
        rows = beauty.dedupe(beauty.load_reviews(shared_data_dir()))
    except FileNotFoundError as exc:
        raise PoolError(f"{exc} (set HWADMIN_SHARED_DATA, or pass a JSONL file)") from None
    return [
        {"text": r["text"], "product_id": r["product_id"], "source_ref": f"{r['source']}/{r['source_ref']}"}
        for r in rows
    ]


def _jsonl_rows(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise PoolError(f"{path}:{number}: not valid JSON ({exc})") from None
            if not isinstance(row, dict):
                raise PoolError(f"{path}:{number}: each line must be a JSON object")
            text = row.get("text")
            if text is None:
                text = "\n".join(t for t in (row.get("good_text"), row.get("bad_text")) if t)
            product = row.get("product_id")
            if not product and isinstance(row.get("product"), dict):  # the ingest format
                product = row["product"].get("external_id")
            rows.append(
                {"text": str(text or ""), "product_id": str(product or ""), "source_ref": f"{Path(path).name}:{number}"}
            )
    return rows


def _review_rows():
    from moderation.models import Review, join_review_text

    reviews = (
        Review.objects.filter(visibility=Review.Visibility.VISIBLE)
        .values_list("pk", "good_text", "bad_text", "product__external_id")
        .order_by("pk")
    )
    return [
        {"text": join_review_text(good, bad), "product_id": product or "", "source_ref": f"review:{pk}"}
        for pk, good, bad, product in reviews.iterator(chunk_size=5000)
    ]


def read_source(source):
    if source == "shared":
        return "shared", _shared_rows()
    if source == "reviews":
        return "reviews", _review_rows()
    path = Path(source)
    if path.is_file():
        return str(path), _jsonl_rows(path)
    raise PoolError(f"{source}: not 'shared', 'reviews' or a JSONL file")


def leak_key(text):
    """What two texts share when one is the other re-spaced, re-punctuated or re-cased: the key the
    pool compares with the labelled texts (a crop "좋아요." must not slip past a labelled "좋아요")."""
    return re.sub(r"[\W_]+", "", norm_space(text)).lower()


def sentence_crops(rows, per_review, seed=0):
    """Up to `per_review` extra texts per review of two or more sentences: a random run of its
    sentences, never all of them (distillation augmentation: the teacher labels each crop).

    A crop keeps the review's product, so the pool's leak rules apply to it as to a review.
    A verdict often sits in one sentence ("아직 안 써봤어요", "한달 후기 남길게요"); crops show
    the student that sentence alone and in new company, which the hand labels are too few to do.
    """
    from .attributes import split_many

    rng = random.Random(seed)
    crops = []
    for row, sentences in zip(rows, split_many([r["text"] for r in rows])):
        n = len(sentences)
        if n < 2:
            continue
        spans = {(i, j) for i in range(n) for j in range(i + 1, n + 1) if j - i < n}
        for i, j in rng.sample(sorted(spans), min(per_review, len(spans))):
            crops.append(
                {**row, "text": " ".join(sentences[i:j]), "source_ref": f"{row.get('source_ref', '')}#{i}-{j}"}
            )
    return crops


def build_pool(source, data, limit=None, seed=0, crops=0):
    """(rows, info): the unlabelled reviews a teacher may score, with every leak removed.

    `data` is the labelled set (a `LabelledSet` with product groups and rows); its test products
    and every labelled text are excluded. `limit` keeps a fixed random subset. `crops` adds that
    many sentence crops per kept review (`sentence_crops`), under the same exclusions.
    """
    name, rows = read_source(source)
    test_products = {g for g, s in zip(data.groups, data.splits) if s == "test" and g}
    labelled_texts = {leak_key(t) for t in data.texts}
    labelled_texts |= {leak_key(r.get("text", "")) for r in data.rows or []}
    kept, dropped = [], {"empty": 0, "test_product": 0, "labelled_text": 0, "duplicate": 0}
    seen = set()
    for row in rows:
        key = leak_key(row["text"])
        if len(key) < 2:
            dropped["empty"] += 1
        elif row["product_id"] and row["product_id"] in test_products:
            dropped["test_product"] += 1
        elif key in labelled_texts:
            dropped["labelled_text"] += 1
        elif key in seen:
            dropped["duplicate"] += 1
        else:
            seen.add(key)
            kept.append(row)
    if limit and len(kept) > limit:
        kept = [kept[i] for i in sorted(random.Random(seed).sample(range(len(kept)), limit))]
    if not kept:
        raise PoolError(f"{name}: no unlabelled review is left once the labelled texts and test products are removed")
    info = {
        "source": name,
        "read": len(rows),
        "size": len(kept),
        "dropped": dropped,
        "test_products_excluded": len(test_products),
    }
    if crops:
        added = []
        for row in sentence_crops(kept, crops, seed=seed):
            key = leak_key(row["text"])
            if len(key) >= 2 and key not in labelled_texts and key not in seen:
                seen.add(key)
                added.append(row)
        kept += added
        info.update(size=len(kept), reviews=len(kept) - len(added), crops=len(added), crops_per_review=crops)
    return kept, info


def teacher_probabilities(teacher, data, texts, log=print):
    """(probabilities, info) for the pool texts from one teacher or the mean of several (comma-separated).

    `baseline` is the character n-gram baseline fitted on the train split's hand labels (never on
    validation or test), `morph-baseline` the same regression on Kiwi morphemes; any other name
    is a classifier directory, scored with its calibration.
    """
    names = [t.strip() for t in str(teacher).split(",") if t.strip()]
    if not names:
        raise PoolError("no teacher given: pass --teacher baseline or a model directory")
    columns, described = [], []
    for name in names:
        if name in ("baseline", "morph-baseline"):
            from .baseline import describe, fit_baseline

            features = "char" if name == "baseline" else "morph"
            train_texts, train_labels, _ = data.split("train")
            columns.append(fit_baseline(train_texts, train_labels, features).scores(texts))
            described.append({"teacher": name, **describe(features), "trained_on": "train split"})
        else:
            from moderation.scoring import ModelLoadError, load_model_dir, predict_proba

            try:
                model, tokenizer, max_length = load_model_dir(name)
            except ModelLoadError as exc:
                raise PoolError(f"teacher {exc}") from None
            columns.append(predict_proba(model, tokenizer, texts, max_length))
            described.append({"teacher": str(Path(name).resolve()), "calibrated": model.calibration is not None})
        log(
            f"teacher {described[-1]['teacher']}: mean probability {sum(columns[-1]) / max(1, len(texts)):.3f} "
            f"on {len(texts)} unlabelled reviews"
        )
    probabilities = [sum(values) / len(values) for values in zip(*columns)]
    return probabilities, {"teachers": described, "combined": "mean" if len(names) > 1 else "single"}
