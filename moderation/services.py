"""One function per reviewer operation, shared by the pages (`moderation/views.py`) and the API
(`moderation/api/queue_views.py`).

Each function owns the whole behaviour of its operation, holds included; the views only parse
the request, call one of these and render the outcome. Refusals are `actions.ActionError`, whose
message says what is wrong and what to do (a page flashes it, the API answers 400 with it); the
messages a page can show are translated (gettext), those only the API sends are English.

Holds after a decision: blind, keep and unblind end the reviewer's holds on the reviews acted on
(the move itself clears the hold of every row it changes; the release also covers selected rows
that someone else decided first). The rest of the page stays held, so a reviewer who keeps
working the same page keeps its rows; opening another page (or leaving the page) releases them.
The page and the API behave alike.
"""

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils.translation import gettext

from . import actions, queue
from .actions import ActionError, Preview, Result
from .models import Check

MODERATE_PERMISSION = "moderation.moderate_reviews"


def may_moderate(user: AbstractBaseUser | AnonymousUser | None) -> bool:
    """Whether this account works the reviewer queue (holds `moderation.moderate_reviews`)."""
    return bool(user and user.is_authenticated and user.has_perm(MODERATE_PERMISSION))


class UnknownCheck(ActionError):
    """No check has the code asked for (a page answers 404, the API 400)."""


def find_check(code: str | None) -> Check:
    """The check with this code; without a code, the first check."""
    if not code:
        check = queue.default_check()
        if check is None:
            raise ActionError(gettext("no moderation check is configured; run the migrations"))
        return check
    check = Check.objects.filter(code=code).first()
    if check is None:
        codes = list(Check.objects.values_list("code", flat=True))
        raise UnknownCheck(f"unknown check {code!r}; use one of {codes}")
    return check


def parse_limit(value: Any, default: int, most: int) -> int:
    """A `limit` query parameter: a whole number from 1 to `most` (`default` when absent)."""
    from .forms import whole_number

    limit = whole_number(default if value is None else value, 1, most)
    if limit is None:
        raise ActionError(f"limit must be a whole number from 1 to {most}")
    return limit


def parse_flag(value: Any) -> bool:
    """A yes/no query parameter such as `hold`: 1, true or yes (any case) is yes; anything else no."""
    return str(value or "").strip().lower() in {"1", "true", "yes"}


def _decided(user: AbstractBaseUser, check: Check, review_ids: Iterable[int | str], result: Result) -> Result:
    """After a decision: the reviewer's holds on the reviews acted on end; the rest of the page stays held."""
    queue.release(user, check, actions.selected(review_ids))
    return result


def blind(
    user: AbstractBaseUser, check: Check, review_ids: Iterable[int | str], reason: str = "", note: str = ""
) -> Result:
    """Blind the selected open reviews of this check, then release the reviewer's holds on them."""
    review_ids = list(review_ids)
    return _decided(user, check, review_ids, actions.blind(user, check, review_ids, reason, note))


def keep(user: AbstractBaseUser, check: Check, review_ids: Iterable[int | str], note: str = "") -> Result:
    """Keep the selected open reviews (not a violation), then release the reviewer's holds on them."""
    review_ids = list(review_ids)
    return _decided(user, check, review_ids, actions.keep(user, check, review_ids, note))


def unblind(user: AbstractBaseUser, check: Check, review_ids: Iterable[int | str], note: str = "") -> Result:
    """Show the selected blinded reviews again (their items become kept), then release the reviewer's
    holds on them."""
    review_ids = list(review_ids)
    return _decided(user, check, review_ids, actions.unblind(user, check, review_ids, note))


def undo(user: AbstractBaseUser, batch: uuid.UUID | str | None, note: str = "") -> Result:
    """Undo a batch, or with "last" the reviewer's latest batch that is not undone yet.

    Undone rows reopen with no hold; the reviewer's other holds are left as they are."""
    if batch == "last":
        batch = actions.last_batch(user)
        if batch is None:
            raise ActionError(gettext("nothing to undo: you have no action that is not undone yet"))
    if not batch:
        raise ActionError('send the batch id to undo, or "last"')
    return actions.undo(user, batch, note)


def preview_threshold(
    user: AbstractBaseUser, check: Check, threshold: float, filters: Mapping[str, Any] | None = None
) -> Preview:
    """How many open reviews "blind all >= threshold" would blind, a few of them, and the confirmation token."""
    return actions.preview_threshold(check, threshold, filters, user=user)


def blind_above(
    user: AbstractBaseUser, token: str, reason: str = "", note: str = "", check: Check | str | None = None
) -> Result:
    """Confirm a threshold preview: blind what it counted (each row it changes loses its hold)."""
    return actions.blind_above(user, token, reason, note, check=check or None)


def release(user: AbstractBaseUser, check: Check) -> int:
    """End all of the reviewer's holds under this check (the page sends this when the reviewer leaves)."""
    return queue.release(user, check)
