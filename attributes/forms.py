from django import forms
from django.utils.translation import gettext_lazy as _

from .models import ReviewAttribute

GROUP_FIELDS = ("name", "exclude", "brand", "category", "ids")


class SentenceFilterForm(forms.Form):
    """?attribute=moisture&polarity=pos: the sentences behind one bar."""

    attribute = forms.RegexField(regex=r"^[a-z_]{1,50}$", required=False)
    polarity = forms.ChoiceField(choices=[("", "")] + list(ReviewAttribute.Polarity.choices), required=False)


class ProductSearchForm(forms.Form):
    """The product list's filters: ?q=시카&category=크림&page=2."""

    q = forms.CharField(max_length=200, required=False, label=_("Name, brand or id contains"), strip=True)
    category = forms.CharField(max_length=200, required=False, label=_("Category"))


def group_fields(prefix, label):
    return {
        f"{prefix}_name": forms.CharField(
            max_length=200,
            required=False,
            label=_("%(group)s: name contains any of") % {"group": label},
            help_text=_("comma-separated, e.g. BHA, 바하"),
        ),
        f"{prefix}_exclude": forms.CharField(
            max_length=200, required=False, label=_("%(group)s: name contains none of") % {"group": label}
        ),
        f"{prefix}_brand": forms.CharField(
            max_length=200, required=False, label=_("%(group)s: brand") % {"group": label}
        ),
        f"{prefix}_category": forms.CharField(
            max_length=200, required=False, label=_("%(group)s: category") % {"group": label}
        ),
        f"{prefix}_ids": forms.CharField(
            max_length=2000,
            required=False,
            label=_("%(group)s: product ids") % {"group": label},
            help_text=_("external ids, comma-separated"),
        ),
    }


class CompareForm(forms.Form):
    """Two product groups, each defined by filters that all apply."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields.update(group_fields("a", _("Group A")))
        self.fields.update(group_fields("b", _("Group B")))

    def clean(self):
        data = super().clean()
        for prefix, label in (("a", _("Group A")), ("b", _("Group B"))):
            if not any((data.get(f"{prefix}_{name}") or "").strip() for name in GROUP_FIELDS):
                raise forms.ValidationError(
                    _("%(group)s needs at least one filter (name, brand, category or product ids)") % {"group": label}
                )
            ids = [t for t in (data.get(f"{prefix}_ids") or "").split(",") if t.strip()]
            if len(ids) > 200 or any(len(t.strip()) > 100 for t in ids):
                raise forms.ValidationError(
                    _("%(group)s: at most 200 product ids of up to 100 characters each") % {"group": label}
                )
        return data

    def group(self, prefix):
        data = self.cleaned_data
        return {
            "name_any": data[f"{prefix}_name"],
            "name_none": data[f"{prefix}_exclude"],
            "brand": data[f"{prefix}_brand"],
            "category": data[f"{prefix}_category"],
            "ids": data[f"{prefix}_ids"],
        }
