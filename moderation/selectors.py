"""Read-side helpers shared by pages, API and commands."""

from .models import Check, Classifier, QueueItem, Review, Score
from .scoring import unscored_review_ids


def pipeline_status():
    """What the service is doing: how many reviews arrived, are scored, wait."""
    visible = Review.objects.filter(visibility=Review.Visibility.VISIBLE)
    checks = []
    for check in Check.objects.all():
        active = Classifier.objects.filter(moderation_check=check, is_active=True).first()
        if active is None:
            checks.append({"check": check, "classifier": None, "scored": 0, "waiting": visible.count()})
            continue
        scored = Score.objects.filter(classifier=active).count()
        waiting = unscored_review_ids(active).count()
        open_items = QueueItem.objects.filter(moderation_check=check, status=QueueItem.Status.OPEN).count()
        checks.append({"check": check, "classifier": active, "scored": scored, "waiting": waiting, "open": open_items})
    return {"received": Review.objects.count(), "visible": visible.count(), "checks": checks}
