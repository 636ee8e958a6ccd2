from django import template
from django.utils.translation import gettext

from moderation.labels import label as label_of

register = template.Library()


@register.filter
def label(code):
    """{{ action.kind|label }}: the translated word for a stored code (moderation/labels.py)."""
    return label_of(code)


UNDO_REASON_PREFIX = "undo of "  # moderation.actions.undo stores "undo of <batch id>" as an undo row's reason


@register.simple_tag
def reason_text(action):
    """An audit row's reason; the reason an undo stored ("undo of <batch>") in the reviewer's language."""
    reason = action.reason or ""
    if action.reverts_id and reason.startswith(UNDO_REASON_PREFIX):
        return gettext("undo of %(batch)s") % {"batch": reason[len(UNDO_REASON_PREFIX) :]}
    return reason


@register.filter
def filter_label(name):
    """{{ key|filter_label }}: a queue filter's name as the filter form labels it."""
    from moderation.labels import filter_label as filter_label_of

    return filter_label_of(name)
