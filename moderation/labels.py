"""The words reviewers read for stored codes (an action's kind, a queue item's status, a review's
visibility). The codes stay in the database, the API and the CSV export; the pages show these,
in the reviewer's language."""

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

LABELS = {
    # Action.Kind
    "blind": pgettext_lazy("action", "blind"),
    "unblind": pgettext_lazy("action", "unblind"),
    "keep": pgettext_lazy("action", "keep"),
    "reopen": pgettext_lazy("action", "reopen"),
    # QueueItem.Status
    "open": pgettext_lazy("status", "open"),
    "blinded": pgettext_lazy("status", "blinded"),
    "kept": pgettext_lazy("status", "kept"),
    # Review.Visibility
    "visible": pgettext_lazy("status", "visible"),
}

KIND_CHOICES = [("", _("any"))] + [(code, LABELS[code]) for code in ("blind", "unblind", "keep", "reopen")]


def label(code):
    """The reviewer's word for a stored code; an unknown code is shown as it is."""
    return LABELS.get(code, code)


# The queue's filters (moderation.forms.FILTER_FIELDS), as the confirmation page names them.
FILTER_LABELS = {
    "p_min": "p ≥",
    "p_max": "p ≤",
    "product": _("product id"),
    "brand": _("brand"),
    "category": _("category"),
    "rating": _("rating"),
    "date_from": _("written from"),
    "date_to": _("written to"),
    "q": _("text contains"),
}


def filter_label(name):
    return FILTER_LABELS.get(name, name)
