"""manage.py load_reviews FILE: bulk-load reviews from JSONL or CSV.

Every line goes through the same validation as the API. Valid lines are stored
in chunks (one transaction each); invalid lines are reported by line number
and field, and never stored.
"""

import csv
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from moderation import ingest

CSV_PRODUCT_COLUMNS = {
    "product_external_id": "external_id",
    "product_name": "name",
    "brand": "brand",
    "category": "category",
}


def read_jsonl(path):
    with open(path, encoding="utf-8-sig", errors="strict") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, ValueError(f"not valid JSON: {exc.msg} at column {exc.colno}")


def read_csv(path):
    """CSV with a header row: the review fields, plus product_external_id, product_name, brand, category."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        missing = {"source", "external_id", "product_external_id", "rating", "written_at"} - set(
            reader.fieldnames or []
        )
        if missing:
            raise CommandError(f"{path}: the CSV header lacks the column(s) {', '.join(sorted(missing))}")
        for number, row in enumerate(reader, start=2):
            item = {k: v for k, v in row.items() if k not in CSV_PRODUCT_COLUMNS and k is not None}
            item["product"] = {CSV_PRODUCT_COLUMNS[k]: row.get(k) or "" for k in CSV_PRODUCT_COLUMNS}
            if None in row:
                yield number, ValueError(f"{len(row[None])} more values than header columns")
                continue
            yield number, item


class Command(BaseCommand):
    help = "Load reviews from a JSONL or CSV file through the ingest validation; idempotent."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", choices=["jsonl", "csv"], help="default: from the file extension")
        parser.add_argument("--chunk-size", type=int, default=500, help="reviews per transaction (default 500)")
        parser.add_argument("--show-errors", type=int, default=20, help="rejected lines to print (default 20)")

    def handle(self, *args, **options):
        path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        fmt = options["format"] or {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}.get(
            path.suffix.lower()
        )
        if fmt is None:
            raise CommandError(f"{path}: unknown extension; pass --format jsonl or --format csv")
        rows = read_jsonl(path) if fmt == "jsonl" else read_csv(path)
        totals = {"created": 0, "updated": 0, "unchanged": 0, "rejected": 0}
        errors = []
        chunk = []
        try:
            with tqdm(desc=f"loading {path.name}", unit=" reviews", disable=None) as bar:
                for number, item in rows:
                    chunk.append((number, item))
                    if len(chunk) >= options["chunk_size"]:
                        self.store(chunk, totals, errors)
                        bar.update(len(chunk))
                        chunk = []
                if chunk:
                    self.store(chunk, totals, errors)
                    bar.update(len(chunk))
        except UnicodeDecodeError as exc:
            raise CommandError(
                f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); nothing after that was loaded"
            ) from None
        for error in errors[: options["show_errors"]]:
            self.stderr.write(f"line {error['line']}: {error['field']}: {error['message']}")
        if len(errors) > options["show_errors"]:
            self.stderr.write(f"... and {len(errors) - options['show_errors']} more problems")
        self.stdout.write(
            f"{totals['created']} stored, {totals['updated']} updated, {totals['unchanged']} unchanged, "
            f"{totals['rejected']} rejected"
        )

    def store(self, chunk, totals, errors):
        lines, items = [], []
        for number, item in chunk:
            if isinstance(item, Exception):
                errors.append({"line": number, "field": "line", "message": str(item)})
                totals["rejected"] += 1
            else:
                lines.append(number)
                items.append(item)
        validated = ingest.validate_reviews(items)
        bad = set()
        for error in validated.errors:
            errors.append({**error, "line": lines[error["index"]]})
            bad.add(error["index"])
        totals["rejected"] += len(bad)
        stored = ingest.store_reviews(validated.items)  # the valid items only
        for key, value in stored.summary().items():
            totals[key] += value
