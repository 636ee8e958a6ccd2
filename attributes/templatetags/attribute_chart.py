from django import template

register = template.Library()


@register.filter
def percent(value, digits=0):
    """0.234 -> "23%" (never localized: the same in every language)."""
    try:
        return f"{100 * float(value):.{int(digits)}f}%"
    except (TypeError, ValueError):
        return ""


@register.filter
def attribute_name(attribute, language):
    """The attribute's Korean name on Korean pages, its English name otherwise."""
    return attribute.get("ko") if str(language).startswith("ko") else attribute.get("en") or attribute.get("ko")
