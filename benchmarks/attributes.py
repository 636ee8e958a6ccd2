"""extract_attributes throughput: reviews per second, end to end, on the 900 sample reviews.

    .venv/bin/python benchmarks/attributes.py [--runs 3] [--batch 500]

A fresh SQLite database in a temporary folder: migrate, load data/sample/reviews.jsonl, then time
`manage.py extract_attributes` (sentence splitting with the corpus splitter, tagging, writing the rows)
from an empty attribute table, `--runs` times, and once more with nothing to do (the idempotent rerun),
for each `--tagger` in turn (default: the taxonomy's phrase tagger, then the shipped back-off tagger,
models/attributes-backoff). Prints the date, the machine's cores, the medians and each tagger's rate
relative to the phrase tagger's in the same run. Goal: >= 200 reviews/s on 2 cores.

With --essences DIR (the Olive Young essence/serum/ampoule reviews, ../shared/data/
oliveyoung_cream_essence_reviews: table1_essence_reviews*.csv) it also stores those reviews, tags them
(timed the same way) and prints the published comparison: products whose name mentions BHA or 바하
against the other essences, the share of reviews mentioning exfoliation and smoothness, with counts and
95 % Wilson intervals.
"""

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the repository's packages, run as a script


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--reviews", type=Path, default=ROOT / "data" / "sample" / "reviews.jsonl")
    parser.add_argument(
        "--tagger",
        nargs="+",
        default=["phrases", str(ROOT / "models" / "attributes-backoff")],
        help="taggers to time, in turn: 'phrases' (the taxonomy's) or a tagger directory to register "
        "(default: phrases, then the shipped back-off tagger; the essences comparison uses the last)",
    )
    parser.add_argument(
        "--essences", type=Path, help="oliveyoung_cream_essence_reviews folder: also the BHA comparison"
    )
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="hwadmin-bench-attributes-")
    os.environ["DATABASE_URL"] = f"sqlite:///{folder}/bench.sqlite3"
    os.environ["HWADMIN_VAR_DIR"] = folder
    os.environ.setdefault("SECRET_KEY", "benchmark-only-" + "x" * 40)
    os.environ.setdefault("HWADMIN_TASKS_EAGER", "0")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hwadmin.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from attributes.models import AttributeModel, ReviewAttribute, TaggedReview
    from attributes.taggers import active_tagger
    from moderation.models import Review

    call_command("migrate", verbosity=0)
    call_command("load_reviews", str(args.reviews), stdout=StringIO(), stderr=StringIO())
    n = Review.objects.count()

    def run():
        out = StringIO()
        started = time.perf_counter()
        call_command("extract_attributes", "--batch", str(args.batch), stdout=out, stderr=StringIO())
        return time.perf_counter() - started, out.getvalue().strip()

    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{now}, {platform.machine()} with {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    rates = {}
    for tagger in args.tagger:
        if tagger == "phrases":
            AttributeModel.objects.filter(is_active=True).update(is_active=False)
            model = active_tagger()  # the taxonomy's phrase tagger, registered and activated
        else:
            call_command("register_attribute_model", tagger, "--activate", stdout=StringIO())
            model = active_tagger()
        times = []
        for _ in range(args.runs):
            ReviewAttribute.objects.all().delete()
            TaggedReview.objects.all().delete()
            seconds, line = run()
            times.append(seconds)
        rerun, rerun_line = run()
        median = statistics.median(times)
        rates[model.name if model.kind != "phrases" else "phrases"] = n / median
        print(f"tagger: {model.name} ({model.kind}); {n} reviews; {ReviewAttribute.objects.count()} attribute rows")
        print(f"  last run: {line}")
        print(
            f"  extract_attributes end to end: median {median:.2f} s over {args.runs} runs = {n / median:.0f} "
            f"reviews/s (runs: {', '.join(f'{t:.2f}' for t in times)} s); goal >= 200 reviews/s: "
            f"{'met' if n / median >= 200 else 'missed'}"
        )
        print(f"  idempotent rerun (nothing to do): {rerun:.2f} s = {n / rerun:.0f} reviews/s; {rerun_line}")
    if "phrases" in rates and len(rates) > 1:
        print(
            "relative to the phrase tagger in this run: "
            + ", ".join(f"{name} {rate / rates['phrases']:.2f}x" for name, rate in rates.items() if name != "phrases")
        )
    if args.essences:
        compare_essences(args.essences, run)


def compare_essences(folder, run):
    import csv

    from django.utils import timezone

    from attributes.profile import product_group, profile
    from moderation.models import Product, Review

    category = "에센스/세럼/앰플"
    products, reviews = {}, []
    for path in sorted(Path(folder).glob("table1_essence_reviews*.csv")):
        with path.open(encoding="utf-8-sig", newline="") as fh:
            for n, row in enumerate(csv.DictReader(fh), start=1):
                text = (row["review_text"] or "").strip()
                if not text:
                    continue
                key = f"bench-essence-{row['product_id'].strip()}"
                if key not in products:
                    products[key] = Product.objects.create(external_id=key, name=row["product_name"], category=category)
                rating = int(row["user_rating"]) if (row["user_rating"] or "").strip().isdigit() else 5
                reviews.append(
                    Review(
                        source="oy-essence",
                        external_id=f"{path.name}:{n}",
                        product=products[key],
                        rating=min(max(rating, 1), 5),
                        good_text=text,
                        written_at=timezone.now(),
                    )
                )
    Review.objects.bulk_create(reviews, batch_size=1000)
    seconds, line = run()
    print(
        f"essences: {len(reviews)} reviews of {len(products)} products tagged in {seconds:.1f} s "
        f"({len(reviews) / seconds:.0f} reviews/s); {line}"
    )
    groups = {
        "BHA/바하 in the name": product_group(name_any="BHA, 바하", category=category),
        "other essences": product_group(name_none="BHA, 바하", category=category),
    }
    for label, group in groups.items():
        data = profile(group)
        by_id = {a["id"]: a for a in data["attributes"]}
        figures = "; ".join(
            f"{a} {by_id[a]['mentions']['count']}/{data['tagged']} = {by_id[a]['mentions']['share']:.1%} "
            f"[{by_id[a]['mentions']['low']:.1%}, {by_id[a]['mentions']['high']:.1%}]"
            for a in ("exfoliation", "smoothness")
            if a in by_id
        )
        print(f"{label}: {group.count()} products, {data['tagged']} tagged reviews; {figures}")


if __name__ == "__main__":
    main()
