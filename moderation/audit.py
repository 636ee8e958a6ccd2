"""The audit trail: every Action row, filtered for the audit page, the API and the CSV export."""

import csv
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.utils import timezone

from .models import Action
from .queue import day_start

CSV_HEADER = [
    "created_at",
    "batch",
    "kind",
    "reviewer",
    "check",
    "review_id",
    "review_source",
    "review_external_id",
    "reason",
    "note",
    "probability",
    "classifier",
    "threshold",
    "reverts",
]


def actions(filters=None):
    f = filters or {}
    queryset = Action.objects.select_related("user", "moderation_check", "review", "classifier")
    if f.get("user"):
        queryset = queryset.filter(user__username=f["user"])
    if f.get("kind"):
        queryset = queryset.filter(kind=f["kind"])
    if f.get("check"):
        queryset = queryset.filter(moderation_check__code=f["check"])
    if f.get("date_from"):
        queryset = queryset.filter(created_at__gte=day_start(f["date_from"]))
    if f.get("date_to"):
        queryset = queryset.filter(created_at__lt=day_start(f["date_to"]) + timedelta(days=1))
    if f.get("batch"):
        queryset = queryset.filter(batch=f["batch"])
    return queryset.order_by("-created_at", "-pk")


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """A text cell a spreadsheet will not run: one starting with = + - @, a tab or a carriage return gets a
    leading apostrophe ("=HYPERLINK(...)" from an external id or a note stays text). Numbers pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_row(action):
    return [spreadsheet_safe(value) for value in _csv_values(action)]


def _csv_values(action):
    return [
        action.created_at.isoformat(),
        str(action.batch),
        action.kind,
        action.user.get_username() if action.user else "",
        action.moderation_check.code if action.moderation_check else "",
        action.review_id,
        action.review.source,
        action.review.external_id,
        action.reason,
        action.note,
        "" if action.probability is None else f"{action.probability:.6f}",
        action.classifier.name if action.classifier else "",
        "" if action.threshold is None else action.threshold,
        action.reverts_id or "",
    ]


class ExportRefused(ValueError):
    """The CSV export is too large or its range is wrong; the message says how to narrow it."""


@dataclass
class Export:
    """A bounded CSV export: the filters it runs with (dates filled in), its size and its file name."""

    filters: dict
    date_from: date | None
    date_to: date | None
    defaulted: bool  # no date range was given: the last AUDIT_EXPORT_MAX_DAYS days
    rows: int
    max_rows: int

    @property
    def days(self):
        """How many days the date range covers, both ends included."""
        return (self.date_to - self.date_from).days + 1

    @property
    def range_text(self):
        if self.date_from is None:
            return f"batch {self.filters['batch']} (all dates)"
        text = f"{self.date_from.isoformat()}..{self.date_to.isoformat()}"
        if self.defaulted:
            text += f" (default: the last {self.days} days; send date_from and date_to for another range)"
        return text

    # filename says what range_text says, in a file name's spelling: two renderings of one range.
    @property
    def filename(self):
        if self.date_from is None:
            return f"hwadmin-audit-batch-{self.filters['batch']}.csv"
        name = f"hwadmin-audit-{self.date_from.isoformat()}_{self.date_to.isoformat()}"
        if self.defaulted:
            name += f"-last-{self.days}-days"
        return name + ".csv"


def plan_export(filters=None, today=None):
    """Bound a CSV export of the audit trail, or refuse it (ExportRefused) before a byte is sent.

    Without a date range the export covers the last HWADMIN_AUDIT_EXPORT_MAX_DAYS days, ending today;
    a missing end is today, a missing start is that many days before the end. A range wider than
    that, or one holding more than HWADMIN_AUDIT_EXPORT_MAX_ROWS rows, is refused. A batch filter
    alone bounds the export by itself (no date range is added), the row cap still holds.
    """
    f = dict(filters or {})
    max_days = settings.HWADMIN["AUDIT_EXPORT_MAX_DAYS"]
    max_rows = settings.HWADMIN["AUDIT_EXPORT_MAX_ROWS"]
    date_from, date_to = f.get("date_from"), f.get("date_to")
    defaulted = not date_from and not date_to
    if not (defaulted and f.get("batch")):
        date_to = date_to or max(timezone.localdate() if today is None else today, date_from or date.min)
        date_from = date_from or date.fromordinal(max(1, date_to.toordinal() - max_days + 1))
        if date_from > date_to:
            raise ExportRefused(f"date_from {date_from.isoformat()} is after date_to {date_to.isoformat()}")
        days = (date_to - date_from).days + 1
        if days > max_days:
            raise ExportRefused(
                f"the date range {date_from.isoformat()}..{date_to.isoformat()} spans {days:,} days, more than "
                f"the {max_days:,} one export may cover (HWADMIN_AUDIT_EXPORT_MAX_DAYS); narrow the date range"
            )
        f.update(date_from=date_from, date_to=date_to)
    else:
        defaulted = False
    rows = actions(f).count()
    if rows > max_rows:
        raise ExportRefused(
            f"the export would hold {rows:,} rows, more than the {max_rows:,} one export may hold "
            "(HWADMIN_AUDIT_EXPORT_MAX_ROWS); narrow the date range or add filters"
        )
    return Export(f, f.get("date_from"), f.get("date_to"), defaulted, rows, max_rows)


class _Echo:
    def write(self, value):
        return value


def csv_lines(export):
    """The export's CSV, a line at a time (streamed; never more than its row cap)."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(CSV_HEADER)
    for action in actions(export.filters)[: export.max_rows].iterator(chunk_size=2000):
        yield writer.writerow(csv_row(action))


def reverted_batches(batches):
    """Which of these batches have been undone (fully or partly)."""
    return set(Action.objects.filter(reverts__batch__in=list(batches)).values_list("reverts__batch", flat=True))
