"""Reviewers' decisions as labelled training data (the loop back into fine-tuning).

Each review's current decision under a check is read from its latest Action
row (the audit log, append-only): its move says where the review's queue item
ended — blinded (a violation: label `unused` for the unused check), kept (no
violation: `used`), or open again after an undo (no decision: left out). The
row also holds what the reviewer saw: the probability and the classifier.

The rows use the labelled-set JSONL format that `finetune_classifier unused`
and `evaluate_classifier` read, with the split drawn from a stable hash of the
product, so no product spans two splits.
"""

import json

from plm.splits import stable_split

from .actions import BLINDED, KEPT, move_of
from .models import Action, join_review_text

# The label each final status means, per check; other checks use violation / fine.
LABELS = {"unused": {BLINDED: "unused", KEPT: "used"}}
DEFAULT_LABELS = {BLINDED: "violation", KEPT: "fine"}
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


def split_for_product(product_id, fractions=SPLIT_FRACTIONS):
    """train / validation / test from the project's one stable hash of the product id."""
    return stable_split(product_id, fractions)


def latest_actions(check, since=None, until=None):
    """The latest Action of each review under this check (decided in [since, until) when given)."""
    actions = Action.objects.filter(moderation_check=check)
    if until is not None:
        actions = actions.filter(created_at__lt=until)
    latest = {}
    rows = actions.select_related("review__product", "classifier", "user", "reverts__reverts__reverts").order_by(
        "review_id", "created_at", "pk"
    )
    for action in rows.iterator(chunk_size=2000):
        latest[action.review_id] = action
    if since is not None:
        latest = {pk: a for pk, a in latest.items() if a.created_at >= since}
    return latest


def decision_rows(check, since=None, until=None):
    """One labelled-set row per review with a standing decision under this check, in review order."""
    labels = LABELS.get(check.code, DEFAULT_LABELS)
    for _review_id, action in sorted(latest_actions(check, since, until).items()):
        _, status = move_of(action)
        if status not in labels:
            continue  # reopened: no decision stands
        review = action.review
        product_id = review.product.external_id
        yield {
            "text": join_review_text(review.good_text, review.bad_text),
            "good_text": review.good_text,
            "bad_text": review.bad_text,
            "label": labels[status],
            "product_id": product_id,
            "split": split_for_product(product_id),
            "source": f"decisions:{check.code}",
            "source_ref": f"review:{review.pk}",
            "review_id": review.pk,
            "probability": action.probability,
            "classifier": action.classifier.name if action.classifier else None,
            "classifier_id": action.classifier_id,
            "decided_by": action.user.get_username() if action.user else None,
            "decided_at": action.created_at.isoformat(),
        }


def write_jsonl(rows, stream):
    count = 0
    for row in rows:
        stream.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count
