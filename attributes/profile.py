"""A product's (or a group of products') attribute profile: per attribute, the share of its visible
tagged reviews that mention it, split into positive and negative, with counts and 95 % Wilson intervals."""

from django.db.models import Count

from moderation.models import Product, Review
from plm.attributes import wilson

from .models import AttributeModel, ReviewAttribute, TaggedReview


def share(k, n):
    low, high = wilson(k, n)
    return {"count": k, "share": k / n if n else 0.0, "low": low, "high": high}


def current_tagger():
    """The active tagger, or None (the web process never registers one: `extract_attributes` does)."""
    return AttributeModel.objects.filter(is_active=True).first()


def taxonomy_attributes():
    """[(id, ko, en, polarity)] of the taxonomy, or [] when it cannot be read."""
    try:
        from .taggers import taxonomy

        return [(a.id, a.ko, a.en, bool(a.polarity)) for a in taxonomy()[1]]
    except (ImportError, OSError, ValueError):
        return []


def profile(products, model=None):
    """The profile of the visible reviews of `products` (a Product queryset or ids) under the active tagger."""
    model = model if model is not None else current_tagger()
    visible = Review.objects.filter(product__in=products, visibility=Review.Visibility.VISIBLE)
    result = {"reviews": visible.count(), "tagged": 0, "tagger": None, "attributes": []}
    if model is None:
        return result
    result["tagger"] = {
        "id": model.pk,
        "name": model.name,
        "kind": model.kind,
        "taxonomy_version": model.taxonomy_version,
    }
    n = TaggedReview.objects.filter(
        tagger=model, review__product__in=products, review__visibility=Review.Visibility.VISIBLE
    ).count()
    result["tagged"] = n
    counts = {}
    rows = (
        ReviewAttribute.objects.filter(
            tagger=model, review__product__in=products, review__visibility=Review.Visibility.VISIBLE
        )
        .values_list("attribute", "polarity")
        .annotate(n=Count("pk"))
    )
    for attribute, polarity, k in rows:
        counts.setdefault(attribute, {})[polarity] = k
    known = taxonomy_attributes()
    names = {a[0]: a for a in known}
    order = [a[0] for a in known] + sorted(set(counts) - set(names))
    for attribute in order:
        _, ko, en, polar = names.get(attribute, (attribute, attribute, attribute, True))
        c = counts.get(attribute, {})
        mentions = sum(c.values())
        result["attributes"].append(
            {
                "id": attribute,
                "ko": ko,
                "en": en,
                "polarity": polar,
                "mentions": share(mentions, n),
                "positive": share(c.get("pos", 0), n),
                "negative": share(c.get("neg", 0), n),
                "present": share(c.get("present", 0), n),
            }
        )
    # most mentioned first; the taxonomy's order among equals
    result["attributes"].sort(key=lambda a: -a["mentions"]["count"])
    return result


def sentences(products, attribute, polarity=None, model=None, limit=50):
    """The newest visible reviews' sentences that carry `attribute` (and `polarity`), with the phrase marked."""
    model = model if model is not None else current_tagger()
    if model is None:
        return []
    rows = ReviewAttribute.objects.filter(
        tagger=model, attribute=attribute, review__product__in=products, review__visibility=Review.Visibility.VISIBLE
    )
    if polarity:
        rows = rows.filter(polarity=polarity)
    rows = rows.select_related("review", "review__product").order_by("-review__written_at", "-review_id")[:limit]
    marker = phrase_marker()
    return [{"row": row, "parts": highlight(row.sentence, marker(row.sentence, attribute))} for row in rows]


def phrase_marker():
    """marks(sentence, attribute) -> [(start, end)]: the phrase tagger's matches (whatever tagger tagged the row)."""
    try:
        from .taggers import phrase_tagger

        return phrase_tagger().marks
    except (ImportError, OSError, ValueError):
        return lambda sentence, attribute: []


def highlight(sentence, marks):
    """[(text, marked)] pieces of the sentence with the marked spans flagged (the template escapes every piece)."""
    pieces, cursor = [], 0
    for start, end in sorted(marks):
        if start < cursor:
            continue
        if start > cursor:
            pieces.append((sentence[cursor:start], False))
        pieces.append((sentence[start:end], True))
        cursor = end
    if cursor < len(sentence):
        pieces.append((sentence[cursor:], False))
    return pieces or [(sentence, False)]


# --- product groups ------------------------------------------------------------------------------------------------


def terms(value):
    return [t.strip() for t in (value or "").split(",") if t.strip()]


def product_group(name_any="", name_none="", brand="", category="", ids=""):
    """The products matching every given filter: name contains any of / none of the comma-separated terms,
    brand, category (exact, any case), external ids (comma-separated)."""
    from django.db.models import Q

    products = Product.objects.all()
    if terms(name_any):
        q = Q()
        for term in terms(name_any):
            q |= Q(name__icontains=term)
        products = products.filter(q)
    for term in terms(name_none):
        products = products.exclude(name__icontains=term)
    if brand.strip():
        products = products.filter(brand__iexact=brand.strip())
    if category.strip():
        products = products.filter(category__iexact=category.strip())
    if terms(ids):
        products = products.filter(external_id__in=terms(ids))
    return products
