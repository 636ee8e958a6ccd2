"""manage.py extract_attributes [--reviews visible|all] [--since DATE] [--batch N]

Splits reviews into sentences (the corpus splitter), tags every sentence with the active tagger (the
taxonomy's phrase tagger, registered on the spot, when none is active) and stores one ReviewAttribute
row per (review, attribute). Idempotent: reviews this tagger already tagged with the same text are
skipped; a changed text is tagged again and its old rows replaced.
"""

import datetime
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from moderation.forms import MAX_DATE, MIN_DATE, whole_number
from moderation.models import Review

from ...extraction import Summary, tag_reviews
from ...taggers import TaggerError, active_tagger


def parse_since(value):
    try:
        day = datetime.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--since {value!r} is not a date: write it as YYYY-MM-DD, e.g. 2026-11-01") from None
    if not MIN_DATE <= day <= MAX_DATE:
        raise CommandError(f"--since {value} is out of range: use a date from {MIN_DATE} to {MAX_DATE}")
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


class Command(BaseCommand):
    help = "Tag reviews' sentences with product attributes (idempotent; re-tags edited reviews)."

    def add_arguments(self, parser):
        parser.add_argument("--reviews", default="visible", help="visible (default) or all (blinded too)")
        parser.add_argument("--since", help="only reviews received or changed on or after this date (YYYY-MM-DD)")
        parser.add_argument("--batch", default="500", help="reviews per transaction, 1 to 10000 (default 500)")

    def handle(self, *args, **options):
        which = options["reviews"]
        if which not in ("visible", "all"):
            raise CommandError(f"--reviews {which!r}: choose visible or all")
        batch = whole_number(str(options["batch"]), 1, 10_000)
        if batch is None:
            raise CommandError(f"--batch {options['batch']!r}: give a whole number from 1 to 10000")
        reviews = Review.objects.all()
        if which == "visible":
            reviews = reviews.filter(visibility=Review.Visibility.VISIBLE)
        if options["since"] is not None:
            reviews = reviews.filter(updated_at__gte=parse_since(options["since"]))
        try:
            model = active_tagger()
        except (TaggerError, OSError, ValueError) as exc:
            raise CommandError(f"no attribute tagger: {exc}") from None
        ids = list(reviews.order_by("pk").values_list("pk", flat=True))
        total = Summary()
        started = time.perf_counter()
        try:
            with tqdm(total=len(ids), desc=f"tagging with {model.name}", unit=" reviews", disable=None) as bar:
                for start in range(0, len(ids), batch):
                    part = ids[start : start + batch]
                    rows = Review.objects.filter(pk__in=part).only("pk", "good_text", "bad_text").order_by("pk")
                    total.add(tag_reviews(rows, model))
                    bar.update(len(part))
        except TaggerError as exc:
            raise CommandError(str(exc)) from None
        seconds = time.perf_counter() - started
        rate = len(ids) / seconds if seconds > 0 else 0.0
        self.stdout.write(
            f"{total.line(f'{model.name} #{model.pk}')} ({len(ids)} reviews in {seconds:.1f} s, {rate:.0f}/s)"
        )
