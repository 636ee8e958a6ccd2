"""The figures on the reviewer dashboard, one function each."""

from datetime import timedelta

from django.core.cache import cache
from django.db.models import Case, Count, Exists, IntegerField, OuterRef, Q, Value, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from .models import Action, QueueItem, Review, WebhookDelivery

QUEUE_LEVELS = (0.5, 0.9, 0.99)
HISTOGRAM_BINS = 20
CACHE_SECONDS = 60
BANDS = [(0.0, 0.5), (0.5, 0.7), (0.7, 0.9), (0.9, 0.95), (0.95, 0.99), (0.99, 1.0)]


def open_queue(check):
    return QueueItem.objects.filter(
        moderation_check=check, status=QueueItem.Status.OPEN, review__visibility=Review.Visibility.VISIBLE
    )


def pipeline_counts(check):
    """Reviews received, scored under this check, and still waiting to be scored.

    "Waiting" is an anti-join (NOT EXISTS), which stays fast on millions of rows.
    """
    scored_here = QueueItem.objects.filter(review=OuterRef("pk"), moderation_check=check)
    return {
        "received": Review.objects.count(),
        "scored": QueueItem.objects.filter(moderation_check=check).count(),
        "waiting": Review.objects.filter(visibility=Review.Visibility.VISIBLE).filter(~Exists(scored_here)).count(),
        "classifier": check.active_classifier,
    }


def queue_sizes(check, levels=QUEUE_LEVELS):
    counts = open_queue(check).aggregate(
        total=Count("pk"), **{f"above_{i}": Count("pk", filter=Q(probability__gte=p)) for i, p in enumerate(levels)}
    )
    return {"total": counts["total"], "levels": [(p, counts[f"above_{i}"]) for i, p in enumerate(levels)]}


def bin_expression(bins):
    whens = [When(probability__lt=(i + 1) / bins, then=Value(i)) for i in range(bins - 1)]
    return Case(*whens, default=Value(bins - 1), output_field=IntegerField())


def histogram(check, bins=HISTOGRAM_BINS):
    """Queue items per probability bin, split into open, blinded and kept."""
    rows = (
        QueueItem.objects.filter(moderation_check=check)
        .annotate(bin=bin_expression(bins))
        .values("bin", "status")
        .annotate(n=Count("pk"))
    )
    counts = [{"open": 0, "blinded": 0, "kept": 0} for _ in range(bins)]
    for row in rows:
        counts[row["bin"]][row["status"]] = row["n"]
    return [
        {"low": i / bins, "high": (i + 1) / bins, **c, "total": c["open"] + c["blinded"] + c["kept"]}
        for i, c in enumerate(counts)
    ]


def histogram_svg(bars, width=640, height=180):
    """Bar geometry for the inline SVG chart (stacked: blinded, kept, open)."""
    top = max((bar["total"] for bar in bars), default=0) or 1
    step = width / len(bars)
    shapes = []
    for i, bar in enumerate(bars):
        y = height
        parts = []
        for status in ("blinded", "kept", "open"):
            h = bar[status] / top * height
            y -= h
            parts.append({"status": status, "y": round(y, 1), "h": round(h, 1), "n": bar[status]})
        shapes.append({"x": round(i * step + 1, 1), "w": round(step - 2, 1), "parts": parts, **bar})
    return {"width": width, "height": height, "bars": shapes, "top": top}


def decisions_per_reviewer(days=14):
    """Blind / keep / unblind decisions per reviewer per day (undo rows not counted)."""
    since = timezone.now() - timedelta(days=days)
    rows = (
        Action.objects.filter(created_at__gte=since, reverts__isnull=True)
        .annotate(day=TruncDate("created_at"))
        .values("day", "user__username")
        .annotate(
            blind=Count("pk", filter=Q(kind=Action.Kind.BLIND)),
            keep=Count("pk", filter=Q(kind=Action.Kind.KEEP)),
            unblind=Count("pk", filter=Q(kind=Action.Kind.UNBLIND)),
            total=Count("pk"),
        )
        .order_by("-day", "user__username")
    )
    return list(rows)


def band_expression(bands):
    whens = [When(probability__lt=high, then=Value(i)) for i, (_, high) in enumerate(bands[:-1])]
    return Case(*whens, default=Value(len(bands) - 1), output_field=IntegerField())


def blind_share_by_band(check, bands=BANDS):
    """Of reviewers' own blind/keep decisions (no threshold blinds, nothing undone), the share blinded per band."""
    rows = (
        Action.objects.filter(
            moderation_check=check,
            kind__in=[Action.Kind.BLIND, Action.Kind.KEEP],
            reverts__isnull=True,
            reverted_by__isnull=True,
            threshold__isnull=True,
            probability__isnull=False,
        )
        .annotate(band=band_expression(bands))
        .values("band")
        .annotate(
            decided=Count("pk"),
            blinded=Count("pk", filter=Q(kind=Action.Kind.BLIND)),
        )
    )
    by_band = {row["band"]: row for row in rows}
    out = []
    for i, (low, high) in enumerate(bands):
        row = by_band.get(i, {"decided": 0, "blinded": 0})
        share = row["blinded"] / row["decided"] if row["decided"] else None
        out.append({"low": low, "high": high, "decided": row["decided"], "blinded": row["blinded"], "share": share})
    return out


def threshold_expectation(classifier, threshold):
    """What "blind everything at p ≥ threshold" is worth, measured on the labelled test split.

    From the scores the registration gate stored (the classifier's calibrated probability and
    the hand label of each test review): the precision among test reviews at or above the
    threshold and the share of the test split's unused reviews they hold. None when the
    classifier was registered without a labelled set.
    """
    gate = (classifier.metrics or {}).get("_gate") if classifier else None
    pairs = (gate or {}).get("test_scores")
    if not pairs:
        return None
    above = [label for p, label in pairs if p >= threshold]
    positives = sum(label for _, label in pairs)
    return {
        "threshold": threshold,
        "count": len(above),
        "precision": sum(above) / len(above) if above else None,
        "recall": sum(above) / positives if positives else None,
        "examples": len(pairs),
        "positives": positives,
    }


EXPECTATION_LEVELS = (0.5, 0.7, 0.8, 0.9, 0.95)


def model_quality(check):
    """The active classifier's gate figures beside the baseline's, and what each threshold is worth."""
    classifier = check.active_classifier
    gate = (classifier.metrics or {}).get("_gate") if classifier else None
    if not gate:
        return None
    systems = (gate.get("bootstrap") or {}).get("systems") or {}
    return {
        "classifier": classifier,
        "model": gate["model"],
        "baseline": gate["baseline"],
        # 95 % intervals over resampled test products, where the registration measured them
        "intervals": {name: systems[name] for name in ("model", "baseline") if name in systems},
        "examples": gate["examples"],
        "positives": gate["positives"],
        "suggested": (classifier.metrics or {}).get("suggested_threshold"),
        "levels": [threshold_expectation(classifier, t) for t in EXPECTATION_LEVELS],
    }


def summary(check):
    return {
        "quality": model_quality(check),
        "pipeline": pipeline_counts(check),
        "sizes": queue_sizes(check),
        "histogram": histogram_svg(histogram(check)),
        "per_reviewer": decisions_per_reviewer(),
        "bands": blind_share_by_band(check),
        "as_of": timezone.now(),
    }


def webhook_health():
    """Dead webhook deliveries (count and the newest), pending ones, and configuration problems."""
    from .webhooks import configuration_problems

    counts = WebhookDelivery.objects.aggregate(
        dead=Count("pk", filter=Q(status=WebhookDelivery.Status.DEAD)),
        pending=Count("pk", filter=Q(status=WebhookDelivery.Status.PENDING)),
    )
    newest = (
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.DEAD)
        .order_by("-updated_at")
        .only("id", "event", "last_error", "last_status_code", "attempts", "updated_at")
        .first()
    )
    return {**counts, "newest_dead": newest, "problems": configuration_problems()}


def cached_summary(check, seconds=CACHE_SECONDS):
    """The summary, recomputed at most once a minute (it counts millions of rows); webhook health is always fresh."""
    return {
        **cache.get_or_set(f"moderation.dashboard.{check.pk}", lambda: summary(check), seconds),
        "webhooks": webhook_health(),
    }
