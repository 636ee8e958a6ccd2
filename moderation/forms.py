"""Forms that parse the reviewer pages' query strings and posts.

The API parses the same fields with these forms, so a filter means the same
thing on a page, in a script and in a threshold blind's confirmation.
"""

from django import forms

from .models import Action

FILTER_FIELDS = ["p_min", "p_max", "product", "brand", "category", "rating", "date_from", "date_to", "q"]


class QueueFilterForm(forms.Form):
    p_min = forms.FloatField(required=False, min_value=0, max_value=1, label="p ≥")
    p_max = forms.FloatField(required=False, min_value=0, max_value=1, label="p ≤")
    product = forms.CharField(required=False, max_length=100, help_text="product id (external id)")
    brand = forms.CharField(required=False, max_length=200)
    category = forms.CharField(required=False, max_length=200)
    rating = forms.TypedMultipleChoiceField(
        required=False, coerce=int, choices=[(str(n), str(n)) for n in range(1, 6)]
    )
    date_from = forms.DateField(required=False, label="written from")
    date_to = forms.DateField(required=False, label="written to")
    q = forms.CharField(required=False, max_length=200, label="text contains")

    def clean(self):
        data = super().clean()
        if data.get("p_min") is not None and data.get("p_max") is not None and data["p_min"] > data["p_max"]:
            raise forms.ValidationError("the probability range is empty: p ≥ is above p ≤")
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError("the date range is empty: 'written from' is after 'written to'")
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

    review = forms.TypedMultipleChoiceField(coerce=int, choices=(), error_messages={"required": "select at least one review"})
    reason = forms.CharField(required=False, max_length=200)
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea)

    def __init__(self, *args, check=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.check_obj = check
        self.fields["review"].valid_value = lambda value: str(value).isdigit()

    def clean_reason(self):
        reason = self.cleaned_data["reason"]
        reasons = list(self.check_obj.reasons or []) if self.check_obj else []
        if reason and reasons and reason not in reasons:
            raise forms.ValidationError(f"{reason!r} is not one of this check's reasons")
        return reason


class ThresholdForm(forms.Form):
    threshold = forms.FloatField(min_value=0, max_value=1)
    reason = forms.CharField(required=False, max_length=200)
    note = forms.CharField(required=False, max_length=2000)


class AuditFilterForm(forms.Form):
    user = forms.CharField(required=False, max_length=150, label="reviewer")
    kind = forms.ChoiceField(required=False, choices=[("", "any")] + list(Action.Kind.choices), label="action")
    check = forms.CharField(required=False, max_length=50)
    date_from = forms.DateField(required=False, label="from")
    date_to = forms.DateField(required=False, label="to")
    batch = forms.UUIDField(required=False)
