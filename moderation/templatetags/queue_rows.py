"""The queue's rows, rendered in Python.

A queue page has 50 rows of about 25 values each. Django's template engine
spends ~20 µs resolving, localizing and escaping each value, and even
`format_html` (which parses its format string and wraps every value in
SafeString) cost ~0.2 ms a row. The rows here are plain string joins; every
value that comes from the data (review texts, product names, brands, URLs) goes
through `html.escape` (quote=True: `& < > " '`), so no review text can open a
tag or leave an attribute. Numbers are formatted by us and need no escaping.
"""

from functools import lru_cache
from html import escape
from urllib.parse import quote_plus

from django import template
from django.utils.safestring import mark_safe
from django.utils.text import Truncator
from django.utils.timezone import get_current_timezone
from django.utils.translation import gettext

register = template.Library()

FOLD_AT = 220


def words():
    """The rows' own words in the active language, translated once a page (escaped: translations are text)."""
    return {
        "full_text": escape(gettext("full text")),
        "good": escape(gettext("GOOD")),
        "bad": escape(gettext("BAD")),
        "select": escape(gettext("select review %(id)s")),
        "review": escape(gettext("review #%(id)s")),
        "stars": escape(gettext("%(rating)s of 5")),
    }


def folded(text, css, full_text="full text", label=""):
    """A review text in its <div>; a long one is cut, with the full text in a <details>.
    `label` (GOOD / BAD, translated) is drawn before the text by queue.css from data-label."""
    if not text:
        return ""
    if len(text) <= FOLD_AT:
        return f'<div class="{css}" data-label="{label}">{escape(text)}</div>'
    return (
        f'<div class="{css}" data-label="{label}">{escape(Truncator(text).chars(FOLD_AT))}'
        f"<details><summary>{full_text}</summary>{escape(text)}</details></div>"
    )


def filter_link(name, value):
    """<a> to the queue filtered by this value (brand, category)."""
    return f'<a href="?{escape(name)}={escape(quote_plus(value))}">{escape(value)}</a>'


@lru_cache(maxsize=4096)
def product_cell(external_id, name, brand, category):
    """The product's <td>: its name (a link to the queue filtered by it), brand and category links.
    Many rows share a product, and products rarely change: cached by value."""
    brand = f"{filter_link('brand', brand)} · " if brand else ""
    category = filter_link("category", category) if category else ""
    return (
        f'<td class="meta"><a href="?product={escape(quote_plus(external_id))}">'
        f"{escape(name or external_id)}</a><div>{brand}{category}</div></td>"
    )


def row(item, review_url_parts, tz, w):
    """One <tr> of the queue; `item` is a queue.Row, `w` the words()."""
    pk = item.review_id
    p = item.probability
    ids = {"id": pk}
    return (
        f'<tr class="item" data-review="{pk}" data-probability="{p:.6f}">'
        f'<td><input type="checkbox" name="review" value="{pk}" form="decide" aria-label="{w["select"] % ids}"></td>'
        f'<td><div class="prob">{p:.3f}</div><div class="bar"><span style="width: {round(p * 100)}%"></span></div></td>'
        f'<td class="texts">{folded(item.good_text, "good", w["full_text"], w["good"])}{folded(item.bad_text, "bad", w["full_text"], w["bad"])}'
        f'<div class="muted small"><a href="{review_url_parts[0]}/{pk}/{review_url_parts[2]}">{w["review"] % ids}</a>'
        f" · {escape(item.source)}</div></td>"
        f"{product_cell(item.product_external_id, item.product_name, item.brand, item.category)}"
        f'<td class="meta"><span class="stars" title="{w["stars"] % {"rating": int(item.rating)}}">'
        f'<span style="width: {int(item.rating) * 20}%"></span></span></td>'
        f'<td class="meta">{item.written_at.astimezone(tz).strftime("%Y-%m-%d")}</td>'
        f'<td class="meta">{escape(item.classifier_name)}</td>'
        "</tr>"
    )


@register.simple_tag
def queue_rows(items, review_url):
    """All rows of a queue page; `review_url` is the review page's URL for review 0."""
    parts = review_url.rpartition("/0/")
    parts = (escape(parts[0]), parts[1], escape(parts[2]))
    tz = get_current_timezone()
    w = words()
    return mark_safe("\n".join([row(item, parts, tz, w) for item in items]))


@register.simple_tag
def datalist_options(values):
    """<option>s of a <datalist> (the filter's suggestions), escaped like the rows."""
    return mark_safe("".join([f'<option value="{escape(str(value))}">' for value in values]))
