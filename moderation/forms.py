"""Forms that parse the reviewer pages' query strings and posts.

The API parses the same fields with these forms, so a filter means the same
thing on a page, in a script and in a threshold blind's confirmation.
"""

import datetime

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .labels import KIND_CHOICES

# Largest id a database integer column holds (SQLite and PostgreSQL bigint): a larger one is an input
# error (400), not an OverflowError (500).
MAX_ID = 2**63 - 1
# Dates a filter accepts: wide enough for any review, narrow enough that a day's start and end
# (one day more) stay within what datetime and the database can represent.
MIN_DATE, MAX_DATE = datetime.date(1900, 1, 1), datetime.date(2999, 12, 31)


def whole_number(value, low, high):
    """int(value) when value is a plain ASCII whole number in [low, high], else None.

    str.isdigit() is not enough: it accepts superscript and other Unicode digits ("²") that int() rejects.
    """
    value = str(value if value is not None else "").strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 20:
        return None
    number = int(value)
    return number if low <= number <= high else None


class BoundedDateField(forms.DateField):
    """A date between MIN_DATE and MAX_DATE (0001-01-01 or 9999-12-31 would overflow a day's bounds)."""

    def to_python(self, value):
        date = super().to_python(value)
        if date is not None and not MIN_DATE <= date <= MAX_DATE:
            raise forms.ValidationError(
                gettext("%(date)s is out of range: use a date from %(low)s to %(high)s")
                % {"date": date.isoformat(), "low": MIN_DATE.isoformat(), "high": MAX_DATE.isoformat()}
            )
        return date


FILTER_FIELDS = ["p_min", "p_max", "product", "brand", "category", "rating", "date_from", "date_to", "q"]


class QueueFilterForm(forms.Form):
    p_min = forms.FloatField(required=False, min_value=0, max_value=1, label="p ≥")
    p_max = forms.FloatField(required=False, min_value=0, max_value=1, label="p ≤")
    product = forms.CharField(
        required=False, max_length=100, label=_("product id"), help_text=_("product id (external id)")
    )
    brand = forms.CharField(required=False, max_length=200, label=_("brand"))
    category = forms.CharField(required=False, max_length=200, label=_("category"))
    rating = forms.TypedMultipleChoiceField(
        required=False, coerce=int, choices=[(str(n), str(n)) for n in range(1, 6)], label=_("rating")
    )
    date_from = BoundedDateField(required=False, label=_("written from"))
    date_to = BoundedDateField(required=False, label=_("written to"))
    q = forms.CharField(required=False, max_length=200, label=_("text contains"))

    def clean(self):
        data = super().clean()
        if data.get("p_min") is not None and data.get("p_max") is not None and data["p_min"] > data["p_max"]:
            raise forms.ValidationError(gettext("the probability range is empty: p ≥ is above p ≤"))
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError(gettext("the date range is empty: 'written from' is after 'written to'"))
        return data

    def filters(self):
        """The non-empty filters, as plain values (JSON- and URL-friendly)."""
        out = {}
        for name in FILTER_FIELDS:
            value = self.cleaned_data.get(name)
            if value in (None, "", []):
                continue
            out[name] = value.isoformat() if hasattr(value, "isoformat") else value
        return out


class DecisionForm(forms.Form):
    """Blind or keep the selected reviews."""

    review = forms.TypedMultipleChoiceField(
        coerce=int, choices=(), label=_("reviews"), error_messages={"required": _("select at least one review")}
    )
    reason = forms.CharField(required=False, max_length=200, label=_("reason"))
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea, label=_("note"))

    def __init__(self, *args, check=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.check_obj = check
        self.fields["review"].valid_value = lambda value: whole_number(value, 1, MAX_ID) is not None

    def clean_reason(self):
        reason = self.cleaned_data["reason"]
        reasons = list(self.check_obj.reasons or []) if self.check_obj else []
        if reason and reasons and reason not in reasons:
            raise forms.ValidationError(gettext("%(reason)r is not one of this check's reasons") % {"reason": reason})
        return reason


class ThresholdForm(forms.Form):
    threshold = forms.FloatField(min_value=0, max_value=1, label=_("threshold"))
    reason = forms.CharField(required=False, max_length=200, label=_("reason"))
    note = forms.CharField(required=False, max_length=2000, label=_("note"))


class AuditFilterForm(forms.Form):
    user = forms.CharField(required=False, max_length=150, label=_("reviewer"))
    # Action.Kind's codes, labelled in the reviewer's language (moderation/labels.py).
    kind = forms.ChoiceField(required=False, choices=KIND_CHOICES, label=_("action"))
    check = forms.CharField(required=False, max_length=50, label=_("check"))
    date_from = BoundedDateField(required=False, label=_("from"))
    date_to = BoundedDateField(required=False, label=_("to"))
    batch = forms.UUIDField(required=False, label=_("batch"))
