"""manage.py export_decisions: reviewers' blind / keep decisions as a labelled JSONL for fine-tuning."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime


class Command(BaseCommand):
    help = (
        "Write each review's standing decision under a check (blinded → unused, kept or unblinded → used; undone "
        "decisions left out) as labelled-set JSONL, with the probability and classifier the reviewer saw and a "
        "split by product. Feed it to `finetune_classifier unused --data FILE`."
    )

    # help and add_arguments have the shape every command has; the options are this command's own.
    def add_arguments(self, parser):
        parser.add_argument("--check", default="unused", help="check code (default: unused)")
        parser.add_argument("--output", default="-", help="JSONL file to write (default: standard output)")
        parser.add_argument("--since", help="only decisions made at or after this date/time (ISO 8601)")
        parser.add_argument("--until", help="only decisions made before this date/time (ISO 8601)")

    def handle(self, *args, **options):
        from moderation.models import Check
        from moderation.training_data import decision_rows, write_jsonl

        check = Check.objects.filter(code=options["check"]).first()
        if check is None:
            codes = ", ".join(Check.objects.values_list("code", flat=True)) or "none yet"
            raise CommandError(f"no check {options['check']!r}; checks: {codes}")
        rows = decision_rows(check, self.moment(options["since"], "--since"), self.moment(options["until"], "--until"))
        if options["output"] == "-":
            count = write_jsonl(rows, sys.stdout)
            self.stderr.write(f"{count} decisions exported")
            return
        path = Path(options["output"])
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            count = write_jsonl(rows, f)
        self.stdout.write(self.style.SUCCESS(f"{count} decisions under {check.code!r} written to {path}"))

    @staticmethod
    def moment(value, option):
        if not value:
            return None
        from datetime import datetime, time

        from django.utils import timezone

        parsed = parse_datetime(value)
        if parsed is None:
            day = parse_date(value)
            if day is None:
                raise CommandError(
                    f"{option} {value!r} is not a date or date-time (e.g. 2026-11-01 or 2026-11-01T09:00)"
                )
            parsed = datetime.combine(day, time.min)
        return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)
