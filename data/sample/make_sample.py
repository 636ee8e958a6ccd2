"""Rebuild data/sample/reviews.jsonl from the Olive Young review sets.

    python data/sample/make_sample.py ../shared/data

Takes a fixed, seeded sample of real reviews (see README.md beside this file
for sources and licences) and writes them in the ingest API's format. The
beauty reviews have one text, which goes to good_text; bad_text stays empty.
"""

import csv
import hashlib
import json
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

SEED = 20261128
PER_SOURCE = {"cream_essence": 500, "cream": 150, "suncare": 150, "sunscreen": 100}


def cream_essence(root):
    folder = root / "oliveyoung_cream_essence_reviews"
    products = {}
    for name, kind in (("table2_cream_basic.csv", "cream"), ("table2_essence_basic.csv", "essence")):
        with open(folder / name, encoding="utf-8-sig") as f:
            for row in csv.DictReader(f):
                products[(kind, row["product_id"])] = row
    for path in sorted(folder.glob("table1_*_reviews*.csv")):
        kind = "cream" if "cream" in path.name else "essence"
        with open(path, encoding="utf-8-sig") as f:
            for row in csv.DictReader(f):
                product = products.get((kind, row["product_id"]), {})
                yield {
                    "product_id": f"oy-{kind}-{row['product_id']}",
                    "name": row["product_name"],
                    "brand": product.get("brand", ""),
                    "category": product.get("category", "크림" if kind == "cream" else "에센스/세럼/앰플"),
                    "rating": int(float(row["user_rating"])),
                    "text": row["review_text"],
                }


def cream(root):
    with open(root / "oliveyoung_cream_reviews" / "train_data_fixed.csv", encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):
            yield {
                "product_id": "oy-cream-" + hashlib.sha1(row["product_name"].encode()).hexdigest()[:10],
                "name": row["product_name"],
                "brand": "",
                "category": "크림",
                "rating": int(float(row["rating"])),
                "text": row["review"],
            }


def suncare(root):
    folder = root / "oliveyoung_suncare_reviews"
    for name, category in (("sunpatch_reviews&buyrank.csv", "선패치"), ("sunspray_reviews&buyrank.csv", "선스프레이")):
        with open(folder / name, encoding="utf-8-sig") as f:
            for row in csv.DictReader(f):
                star = row["star"].split("만점에")[-1].strip().rstrip("점")
                yield {
                    "product_id": f"oy-{category}-{row['product_name'][:40]}",
                    "name": row["product_name"],
                    "brand": "",
                    "category": category,
                    "rating": int(star) if star.isdigit() else 5,
                    "text": row["review"],
                }


def sunscreen(root):
    rows = json.loads((root / "oliveyoung_sunscreen_reviews_2026" / "oliveyoung_sunscreen_reviews.json").read_text())
    for row in rows:
        yield {
            "product_id": f"oy-{row['goods_number']}",
            "name": row["goods_name"],
            "brand": "",
            "category": row.get("category") or "선크림",
            "rating": int(row["score"]),
            "text": row["content"],
        }


def main(root):
    root = Path(root)
    rng = random.Random(SEED)
    start = datetime(2026, 9, 1, tzinfo=timezone(timedelta(hours=9)))
    out = []
    for name, reader in (
        ("cream_essence", cream_essence),
        ("cream", cream),
        ("suncare", suncare),
        ("sunscreen", sunscreen),
    ):
        rows = [r for r in reader(root) if r["text"] and r["text"].strip() and 1 <= r["rating"] <= 5]
        for row in rng.sample(rows, PER_SOURCE[name]):
            out.append((name, row))
    rng.shuffle(out)
    target = Path(__file__).with_name("reviews.jsonl")
    with open(target, "w", encoding="utf-8") as f:
        for i, (name, row) in enumerate(out):
            item = {
                "source": "oliveyoung-sample",
                "external_id": f"{name}-{i:04d}",
                "product": {
                    "external_id": row["product_id"],
                    "name": row["name"],
                    "brand": row["brand"],
                    "category": row["category"],
                },
                "author_ref": f"user-{rng.randrange(10**6):06d}",
                "rating": row["rating"],
                "good_text": row["text"].strip(),
                "bad_text": "",
                "written_at": (start + timedelta(minutes=97 * i)).isoformat(),
            }
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
    print(f"wrote {len(out)} reviews to {target}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
