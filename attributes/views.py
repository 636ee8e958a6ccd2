"""The product page (an attribute profile as a bar chart; a bar's link lists its sentences) and the
comparison of two product groups. Reviewers and staff."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from moderation import services
from moderation.models import Product, Review

from . import profile as profiles
from .forms import CompareForm, ProductSearchForm, SentenceFilterForm


def may_read_profiles(user):
    """Reviewers (moderation.moderate_reviews) and staff."""
    return bool(user and user.is_authenticated and (user.is_staff or services.may_moderate(user)))


def reviewer_or_staff_required(view):
    @wraps(view)
    @login_required
    def wrapped(request, *args, **kwargs):
        if not may_read_profiles(request.user):
            raise PermissionDenied(_("your account may not see product attributes (ask for the reviewers group)"))
        return view(request, *args, **kwargs)

    return wrapped


def chart_rows(attributes):
    """Bars for the template: widths as percentages (the template writes them in style="width: …%")."""
    rows = []
    for a in attributes:
        rows.append(
            {
                **a,
                "pos_width": pct(a["positive"]["share"]),
                "neg_width": pct(a["negative"]["share"]),
                "present_width": pct(a["present"]["share"]),
                "low_pct": pct(a["mentions"]["low"]),
                "high_pct": pct(a["mentions"]["high"]),
                "ci_width": pct(a["mentions"]["high"] - a["mentions"]["low"]),
            }
        )
    return rows


def pct(x):
    return f"{100 * max(0.0, min(1.0, x)):.1f}"


PRODUCTS_PER_PAGE = 50


@require_GET
@reviewer_or_staff_required
def product_list(request):
    """Every product, by brand and name, filtered by a search term and a category, 50 a page; each page's
    review counts are counted for its own products only, so the page costs the same on a million reviews."""
    form = ProductSearchForm(request.GET)
    products, status = Product.objects.order_by("brand", "name", "pk"), 200
    if not form.is_valid():
        status = 400
    else:
        if term := form.cleaned_data["q"]:
            products = products.filter(
                Q(name__icontains=term) | Q(brand__icontains=term) | Q(external_id__icontains=term)
            )
        if category := form.cleaned_data["category"].strip():
            products = products.filter(category=category)
    rows = Paginator(products, PRODUCTS_PER_PAGE).get_page(request.GET.get("page"))
    counts = {
        row["product"]: row
        for row in Review.objects.filter(product__in=[p.pk for p in rows])
        .order_by()
        .values("product")
        .annotate(
            visible=Count("pk", filter=Q(visibility=Review.Visibility.VISIBLE)),
            blinded=Count("pk", filter=Q(visibility=Review.Visibility.BLINDED)),
        )
    }
    for product in rows:
        product.counts = counts.get(product.pk, {"visible": 0, "blinded": 0})
    query = request.GET.copy()
    query.pop("page", None)
    categories = Product.objects.exclude(category="").order_by("category").values_list("category", flat=True).distinct()
    return render(
        request,
        "attributes/products.html",
        {"form": form, "rows": rows, "query": query.urlencode(), "categories": categories},
        status=status,
    )


@require_GET
@reviewer_or_staff_required
def product_page(request, pk):
    product = get_object_or_404(Product, pk=pk)
    products = Product.objects.filter(pk=product.pk)
    data = profiles.profile(products)
    form = SentenceFilterForm(request.GET)
    chosen, rows, status = None, [], 200
    if not form.is_valid():
        status = 400
    elif form.cleaned_data["attribute"]:
        attribute, polarity = form.cleaned_data["attribute"], form.cleaned_data["polarity"] or None
        chosen = next((a for a in data["attributes"] if a["id"] == attribute), None)
        if chosen is None:
            status = 404
        else:
            rows = profiles.sentences(products, attribute, polarity)
            chosen = {**chosen, "polarity_shown": polarity or ""}
    return render(
        request,
        "attributes/product.html",
        {
            "product": product,
            "profile": data,
            "bars": chart_rows(data["attributes"]),
            "form": form,
            "chosen": chosen,
            "sentences": rows,
        },
        status=status,
    )


# The published comparison, filled in on an empty form: ampoules named BHA or 바하 against the other ampoules.
EXAMPLE = {
    "a_name": "BHA, 바하",
    "a_category": "에센스/세럼/앰플",
    "b_exclude": "BHA, 바하",
    "b_category": "에센스/세럼/앰플",
}


@require_GET
@reviewer_or_staff_required
def compare_page(request):
    form = CompareForm(request.GET or None, initial=EXAMPLE)
    groups, status = None, 200
    if request.GET and not form.is_valid():
        status = 400
    elif form.is_bound:
        a, b = profiles.product_group(**form.group("a")), profiles.product_group(**form.group("b"))
        pa, pb = profiles.profile(a), profiles.profile(b)
        by_id = {x["id"]: x for x in pb["attributes"]}
        rows = []
        for x in chart_rows(pa["attributes"]):
            y = chart_rows([by_id[x["id"]]])[0] if x["id"] in by_id else None
            if y is not None:
                rows.append({"a": x, "b": y, "top": max(x["mentions"]["share"], y["mentions"]["share"])})
        rows.sort(key=lambda r: -r["top"])
        groups = {"a": pa, "b": pb, "a_products": a.count(), "b_products": b.count(), "rows": rows}
    return render(request, "attributes/compare.html", {"form": form, "groups": groups}, status=status)
