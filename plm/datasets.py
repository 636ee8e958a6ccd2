"""Labelled text sets for fine-tuning and evaluation, split into train / validation / test.

Every loader returns a `LabelledSet`: texts, integer labels, the label names,
and for each example its split. Splits come from the file when it has a
`split` field (the hand-labelled unused set is split by product), otherwise
they are drawn by a stable hash of the product (so no product spans two
splits) or, when there is no product, of the text.

Tasks:
- `unused`  the hand-labelled set in data/labelled/unused/ (unused → 1, used → 0;
            gift and unclear left out unless `gift_as` says otherwise)
- `goodbad` Olive Young reviews, 4–5 stars (good, 1) vs 1–2 stars (bad, 0)
- `category` Olive Young product category (크림, 에센스/세럼/앰플, 선패치, 선스프레이, 선크림)
- `nsmc`    Naver movie-review sentiment (ratings_train / ratings_test)
- any JSONL/CSV/TSV file with a text and a label column.
"""

import csv
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from .splits import SPLITS, stable_split  # noqa: F401  (re-exported: callers import them from here)

UNUSED_LABELS = {"used": 0, "unused": 1}


def shared_data_dir():
    from .shared import shared_data_dir as located

    return located()


def unused_set_dir():
    from django.conf import settings  # here: plm.finetune_bundle reads a LabelledSet where Django is not installed

    return Path(settings.BASE_DIR) / "data" / "labelled" / "unused"


class DatasetError(Exception):
    """A labelled file or task that cannot be read as asked."""


@dataclass
class LabelledSet:
    texts: list
    labels: list
    label_names: list
    splits: list
    groups: list = field(default_factory=list)  # product ids (or "") for each example
    rows: list = field(default_factory=list)  # the source rows, for provenance in predictions

    def split(self, name):
        indices = [i for i, s in enumerate(self.splits) if s == name]
        return [self.texts[i] for i in indices], [self.labels[i] for i in indices], indices

    def counts(self):
        return {
            name: {
                label: sum(1 for s, y in zip(self.splits, self.labels) if s == name and y == i)
                for i, label in enumerate(self.label_names)
            }
            for name in SPLITS
        }

    def subsample(self, limits, seed=0):
        """At most limits[split] examples of each split (a fixed random subset)."""
        keep = []
        for name in SPLITS:
            indices = [i for i, s in enumerate(self.splits) if s == name]
            limit = limits.get(name)
            if limit is not None and len(indices) > limit:
                indices = sorted(random.Random(f"{seed}-{name}").sample(indices, limit))
            keep += indices
        keep.sort()
        pick = lambda values: [values[i] for i in keep] if values else values  # noqa: E731
        return LabelledSet(
            pick(self.texts), pick(self.labels), self.label_names, pick(self.splits), pick(self.groups), pick(self.rows)
        )


def from_rows(rows, text_key, label_key, label_names=None, split_key="split", group_key=None, label_map=None, seed=0):
    """A LabelledSet from dict rows; labels are mapped by `label_map` (rows mapping to None are dropped)."""
    texts, labels, splits, groups, kept = [], [], [], [], []
    raw_labels = []
    for number, row in enumerate(rows, 1):
        if text_key not in row or label_key not in row:
            raise DatasetError(f"row {number} has no {text_key!r} or {label_key!r} column (it has: {', '.join(row)})")
        text = str(row[text_key] or "").strip()
        if not text:
            continue
        raw = row[label_key]
        if label_map is not None:
            raw = label_map.get(str(raw), label_map.get(raw))
            if raw is None:
                continue
        raw_labels.append(raw)
        texts.append(text)
        group = str(row.get(group_key) or "") if group_key else ""
        groups.append(group)
        split = str(row.get(split_key) or "") if split_key else ""
        if split and split not in SPLITS:
            raise DatasetError(f"row {number}: split {split!r} is not one of {', '.join(SPLITS)}")
        splits.append(split or stable_split(group or text, seed=seed))
        kept.append(row)
    if not texts:
        raise DatasetError("no labelled texts were read")
    if label_names is None:
        if all(isinstance(y, int) for y in raw_labels):
            label_names = [str(i) for i in range(max(raw_labels) + 1)]
        else:
            label_names = sorted({str(y) for y in raw_labels})
    index = {name: i for i, name in enumerate(label_names)}
    for raw in raw_labels:
        if isinstance(raw, int):
            labels.append(raw)
        elif str(raw) in index:
            labels.append(index[str(raw)])
        else:
            raise DatasetError(f"label {raw!r} is not one of {label_names}")
    return LabelledSet(texts, labels, list(label_names), splits, groups, kept)


def jsonl_records(path):
    """(line number, value) for each non-blank line of a JSONL file; DatasetError naming the file, and the
    line where one is not JSON."""
    path = Path(path)
    try:
        content = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read it: {exc}") from None
    for number, line in enumerate(content.splitlines(), 1):
        if line.strip():
            try:
                value = json.loads(line)
            except ValueError as exc:
                raise DatasetError(f"{path}:{number}: not valid JSON ({exc})") from None
            yield number, value


def read_table(path, text_column=None):
    """Rows of a JSONL, JSON array, CSV or TSV file as dicts."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    if path.suffix == ".json":
        content = path.read_text(encoding="utf-8-sig")
        if content.lstrip().startswith("["):
            return json.loads(content)
    if path.suffix in (".jsonl", ".json"):
        return [row for _number, row in jsonl_records(path)]
    delimiter = "\t" if path.suffix in (".tsv", ".txt") else ","
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f, delimiter=delimiter))


def unused_label_map(gift_as=None, unclear_as=None):
    mapping = dict(UNUSED_LABELS)
    if gift_as is not None:
        mapping["gift"] = UNUSED_LABELS[gift_as]
    if unclear_as is not None:
        mapping["unclear"] = UNUSED_LABELS[unclear_as]
    return mapping


EXTRA_LABELS = ("used", "unused", "gift", "unclear")


def merge_extra_labels(rows, extra_files):
    """(rows, report): the hand-labelled unused rows plus the train- and validation-split rows of other
    labelled-set JSONL files (reviewers' decisions from `export_decisions`, further labelling rounds).

    The hand-labelled set stays as it is, its test split above all, so every month's model is measured on
    the same rows: a product it knows keeps its split there; an extra row of a test-split product, or of a
    test split of its own, is left out; so is a text the set already holds (the hand label stands, compared
    as the unlabelled pool compares texts) and a text repeated among the extra rows (the later file's row
    wins: the newer decision). A row without text, label or product, or with a label the set does not use,
    is an error naming its file and line."""
    from .semisupervised import leak_key

    known_split = {str(r.get("product_id") or ""): r.get("split") for r in rows if r.get("product_id")}
    labelled = {leak_key(str(r.get("text") or "")) for r in rows}
    kept, report = {}, {"files": [], "read": 0, "added": {"train": 0, "validation": 0}}
    left_out = {"test_split": 0, "already_labelled": 0, "repeated": 0}
    for path in extra_files:
        path = Path(path)
        report["files"].append(str(path))
        for number, row in jsonl_records(path):
            if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in ("text", "product_id")):
                raise DatasetError(f"{path}:{number}: needs 'text' and 'product_id' strings and a 'label'")
            if row.get("label") not in EXTRA_LABELS:
                raise DatasetError(
                    f"{path}:{number}: label {row.get('label')!r} is not one of {', '.join(EXTRA_LABELS)}"
                )
            report["read"] += 1
            split = known_split.get(row["product_id"]) or row.get("split") or stable_split(row["product_id"])
            if split not in SPLITS:
                raise DatasetError(f"{path}:{number}: split {split!r} is not one of {', '.join(SPLITS)}")
            key = leak_key(row["text"])
            if split == "test":
                left_out["test_split"] += 1
            elif key in labelled:
                left_out["already_labelled"] += 1
            else:
                left_out["repeated"] += key in kept
                kept.pop(key, None)  # the later row, in its place at the end
                kept[key] = {**row, "split": split, "selected_by": row.get("selected_by") or f"extra:{path.name}"}
    for row in kept.values():
        report["added"][row["split"]] += 1
    report["left_out"] = left_out
    return list(rows) + list(kept.values()), report


def load_unused(path=None, gift_as=None, unclear_as=None):
    """The unused-review set (labelled-set JSONL): 1 = unused, 0 = used."""
    path = Path(path) if path else unused_set_dir() / "reviews.jsonl"
    if path.is_dir():
        path = path / "reviews.jsonl"
    rows = read_table(path)
    return from_rows(
        rows,
        "text",
        "label",
        ["used", "unused"],
        group_key="product_id",
        label_map=unused_label_map(gift_as, unclear_as),
    )


def _oliveyoung_rows():
    """(text, stars, category, product id, source ref) from the Olive Young review sets."""
    base = shared_data_dir()
    cream_essence = base / "oliveyoung_cream_essence_reviews"
    if not cream_essence.is_dir():
        raise DatasetError(f"{cream_essence}: the Olive Young data sets are not here (set HWADMIN_SHARED_DATA)")
    categories = {}
    for kind, name in (("cream", "table2_cream_basic.csv"), ("essence", "table2_essence_basic.csv")):
        for row in read_table(cream_essence / name):
            categories[(kind, row["product_id"])] = row["category"]
    for path in sorted(cream_essence.glob("table1_*_reviews*.csv")):
        kind = "cream" if "cream" in path.name else "essence"
        for number, row in enumerate(read_table(path), 2):
            category = categories.get((kind, row["product_id"]), "크림" if kind == "cream" else "에센스/세럼/앰플")
            yield (
                row["review_text"],
                int(float(row["user_rating"])),
                category,
                f"oy-{kind}-{row['product_id']}",
                f"{path.name}:{number}",
            )
    suncare = base / "oliveyoung_suncare_reviews"
    for name, category in (("sunpatch_reviews&buyrank.csv", "선패치"), ("sunspray_reviews&buyrank.csv", "선스프레이")):
        for number, row in enumerate(read_table(suncare / name), 2):
            stars = row["star"].rsplit("만점에", 1)[-1].strip().rstrip("점").strip()
            yield row["review"], int(stars), category, f"oy-{category}-{row['product_name']}", f"{name}:{number}"
    sunscreen = base / "oliveyoung_sunscreen_reviews_2026" / "oliveyoung_sunscreen_reviews.json"
    for number, row in enumerate(read_table(sunscreen)):
        yield row["content"], int(row["score"]), "선크림", f"oy-{row['goods_number']}", f"{sunscreen.name}:{number}"


def load_goodbad(seed=0):
    """Olive Young reviews: 4–5 stars → good (1), 1–2 stars → bad (0); 3 stars left out."""
    rows = [
        {"text": text, "label": "good" if stars >= 4 else "bad", "product_id": product, "source_ref": ref}
        for text, stars, _, product, ref in _oliveyoung_rows()
        if stars != 3
    ]
    return from_rows(rows, "text", "label", ["bad", "good"], split_key=None, group_key="product_id", seed=seed)


def load_category(seed=0):
    """Product category; split by text, since the sun-care sets hold too few products to split by product."""
    rows = [
        {"text": text, "label": category, "product_id": product, "source_ref": ref}
        for text, _, category, product, ref in _oliveyoung_rows()
    ]
    return from_rows(rows, "text", "label", None, split_key=None, group_key=None, seed=seed)


def load_nsmc(seed=0):
    """NSMC: ratings_train → train and validation (a stable 10%), ratings_test → test."""
    base = shared_data_dir() / "nsmc"
    rows = []
    for name, split in (("ratings_train.txt", None), ("ratings_test.txt", "test")):
        for row in read_table(base / name):
            document = row.get("document") or ""
            row = {"text": document, "label": int(row["label"]), "source_ref": f"{name}:{row['id']}"}
            row["split"] = split or stable_split(row["source_ref"], (0.9, 0.1, 0.0), seed)
            rows.append(row)
    return from_rows(rows, "text", "label", ["negative", "positive"], seed=seed)


def load_file(
    path, text_column="text", label_column="label", split_column="split", group_column=None, label_names=None, seed=0
):
    rows = read_table(path)
    if rows and split_column not in rows[0]:
        split_column = None
    return from_rows(
        rows, text_column, label_column, label_names, split_key=split_column, group_key=group_column, seed=seed
    )


TASKS = {"unused": load_unused, "goodbad": load_goodbad, "category": load_category, "nsmc": load_nsmc}


def load_task(task, path=None, text_column="text", label_column="label", group_column=None, gift_as=None, seed=0):
    """A task by name (`unused` may take another labelled-set file), or a labelled file."""
    if task == "unused":
        return load_unused(path, gift_as=gift_as)
    if task in TASKS:
        return TASKS[task](seed=seed)
    if task in ("file", None):
        if not path:
            raise DatasetError("a labelled file is needed: pass --data FILE with --text-column and --label-column")
        return load_file(path, text_column, label_column, group_column=group_column, seed=seed)
    raise DatasetError(f"unknown task {task!r}; one of {', '.join(TASKS)} or 'file' with --data")
