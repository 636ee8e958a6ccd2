"""The Olive Young beauty reviews of the shared data, with one product id scheme.

The hand-labelled unused set (`data/labelled/unused/`), the unlabelled pool of
semi-supervised training and the rebuild of the shipped classifier all read the
reviews through `load_reviews`, so a product has the same id everywhere and a
test-split product can be recognised (and left out) in any pool. No Django and
no third-party import: the labelled set's standalone `build.py` uses it too.

Product ids: `oy-cream-<n>` / `oy-essence-<n>` (the source's id, prefixed by
category since the two categories reuse numbers), `oy-<goodsNo>` (sunscreen
set), or a 10-hex SHA-1 of the product name where the source has no id
(`oy-creamname-…`, `oy-sun-…`). `source_ref` is `<file name>:<row>` (1-based
data row of a CSV, or 1-based index in a JSON array).
"""

import csv
import hashlib
import json
import re
from pathlib import Path

SOURCES = (
    "oliveyoung_cream_essence_reviews",
    "oliveyoung_cream_reviews",
    "oliveyoung_suncare_reviews",
    "oliveyoung_sunscreen_reviews_2026",
)


def norm_space(text):
    return re.sub(r"\s+", " ", text or "").strip()


def _name_id(prefix, name):
    return f"{prefix}-{hashlib.sha1(name.strip().encode('utf-8')).hexdigest()[:10]}"


def _read_csv(path):
    with Path(path).open(encoding="utf-8-sig", newline="") as fh:
        yield from enumerate(csv.DictReader(fh), start=1)


def _row(text, product_id, source, path, n):
    return {"text": (text or "").strip(), "product_id": product_id, "source": source, "source_ref": f"{path.name}:{n}"}


def load_reviews(data_dir):
    """Every review of the four sets, in a fixed order: text, product_id, source, source_ref."""
    data = Path(data_dir)
    missing = [name for name in SOURCES if not (data / name).is_dir()]
    if missing:
        raise FileNotFoundError(f"{data}: the beauty review sets {', '.join(missing)} are not there")
    rows = []
    src = "oliveyoung_cream_essence_reviews"
    for path in sorted((data / src).glob("table1_*.csv")):
        kind = "cream" if "cream" in path.name else "essence"
        for n, r in _read_csv(path):
            rows.append(_row(r["review_text"], f"oy-{kind}-{r['product_id'].strip()}", src, path, n))
    src = "oliveyoung_cream_reviews"
    path = data / src / "train_data_fixed.csv"
    for n, r in _read_csv(path):
        rows.append(_row(r["review"], _name_id("oy-creamname", r["product_name"]), src, path, n))
    src = "oliveyoung_suncare_reviews"
    for path in sorted((data / src).glob("*.csv")):
        for n, r in _read_csv(path):
            rows.append(_row(r["review"], _name_id("oy-sun", r["product_name"]), src, path, n))
    src = "oliveyoung_sunscreen_reviews_2026"
    path = data / src / "oliveyoung_sunscreen_reviews.json"
    for n, r in enumerate(json.loads(path.read_text(encoding="utf-8")), start=1):
        rows.append(_row(r.get("content"), f"oy-{r['goods_number']}", src, path, n))
    return rows


def dedupe(rows):
    """Drop empty (under 2 characters) and exact duplicate texts, whitespace-normalised; the first is kept."""
    seen, out = set(), []
    for r in rows:
        key = norm_space(r["text"])
        if len(key) < 2 or key in seen:
            continue
        seen.add(key)
        out.append(r)
    return out
