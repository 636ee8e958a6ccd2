"""Reviewer pages (server-rendered). Each view parses the request, calls `services` (one
function per reviewer operation, the same the API calls), `queue`, `audit` or `dashboard`,
and renders; nothing else."""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from . import actions, audit, dashboard, queue, services
from .forms import AuditFilterForm, DecisionForm, QueueFilterForm, ThresholdForm
from .models import Action, Check, Review
from .selectors import pipeline_status

PERMISSION = services.MODERATE_PERMISSION


def reviewer_required(view):
    """Anonymous users go to the login page; logged-in users without the permission get a 403."""

    @wraps(view)
    @login_required
    def wrapped(request, *args, **kwargs):
        if not services.may_moderate(request.user):
            raise PermissionDenied(_("your account may not work the reviewer queue (ask for the reviewers group)"))
        return view(request, *args, **kwargs)

    return wrapped


@login_required
def home(request):
    return render(request, "moderation/home.html", {"status": pipeline_status()})


def check_or_404(code):
    try:
        return services.find_check(code)
    except services.UnknownCheck as exc:
        raise Http404(str(exc)) from None


def default_check_or_404():
    try:
        return services.find_check(None)
    except actions.ActionError as exc:  # no check is configured
        raise PermissionDenied(str(exc)) from None


def safe_next(request, fallback):
    """The form's `next` when it is a path on this site ("/queue/unused/?page=2"), else `fallback`. A
    bare word is refused too: `redirect` would read "neg" or "²" as a view name and fail."""
    target = request.POST.get("next") or ""
    if (
        target.startswith("/")
        and not target.startswith(("//", "/\\"))
        and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return target
    return fallback


def report(request, result):
    """Flash what an action did, with the batch for its Undo button."""
    if result.changed:
        messages.success(request, result.message, extra_tags=str(result.batch))
    else:
        messages.warning(request, result.message)


def act(request, back, operation, *args, **kwargs):
    """Run a reviewer operation of `services` as this user, flash what it did (or why it was refused)
    and go back."""
    try:
        result = operation(request.user, *args, **kwargs)
    except actions.ActionError as exc:
        messages.warning(request, str(exc))
    else:
        report(request, result)
    return redirect(back)


def decision(request, check):
    """The posted decision form's data, or None (its problems flashed) when it is invalid."""
    form = DecisionForm(request.POST, check=check)
    if form.is_valid():
        return form.cleaned_data
    messages.warning(request, "; ".join(e for errors in form.errors.values() for e in errors))
    return None


@require_GET
@reviewer_required
def queue_start(request):
    return redirect("queue", check=default_check_or_404().code)


@require_GET
@reviewer_required
def queue_page(request, check):
    code = check
    checks = queue.all_checks()  # the tabs (cached); the check is one of them
    check = next((c for c in checks if c.code == code), None)
    if check is None:
        raise Http404(_("no check %(code)r") % {"code": code})
    form = QueueFilterForm(request.GET)
    filters = form.filters() if form.is_valid() else {}
    try:
        page = queue.page(check, request.user, filters, after=request.GET.get("after"))
    except queue.CursorError as exc:
        messages.warning(request, str(exc))
        page = queue.page(check, request.user, filters)
    query = request.GET.copy()
    query.pop("after", None)
    return render(
        request,
        "moderation/queue.html",
        {
            "check": check,
            "checks": checks,
            "form": form,
            "page": page,
            "filters": filters,
            "filter_query": query.urlencode(),
            "filter_pairs": [(key, value) for key, values in query.lists() for value in values],
            "first_page": not request.GET.get("after"),
            "brands": queue.distinct_values("brand"),
            "categories": queue.distinct_values("category"),
        },
    )


@require_POST
@reviewer_required
def decide(request, check):
    check = check_or_404(check)
    back = safe_next(request, reverse("queue", args=[check.code]))
    data = decision(request, check)
    if data is None:
        return redirect(back)
    kind = request.POST.get("action")
    if kind == "blind":
        return act(request, back, services.blind, check, data["review"], data["reason"], data["note"])
    if kind == "keep":
        return act(request, back, services.keep, check, data["review"], data["note"])
    messages.warning(request, _("unknown action %(kind)r: use Blind or Keep") % {"kind": kind})
    return redirect(back)


@reviewer_required
def blind_above(request, check):
    """GET: show how many reviews a threshold blind covers and a few of them. POST: do it."""
    check = check_or_404(check)
    if request.method == "POST":
        return act(
            request,
            safe_next(request, reverse("queue", args=[check.code])),
            services.blind_above,
            request.POST.get("token", ""),
            request.POST.get("reason", ""),
            request.POST.get("note", ""),
            check=check,
        )
    threshold_form = ThresholdForm(request.GET)
    filter_form = QueueFilterForm(request.GET)
    if not threshold_form.is_valid() or not filter_form.is_valid():
        errors = [*threshold_form.errors.values(), *filter_form.errors.values()]
        messages.warning(request, "; ".join(e for errs in errors for e in errs))
        return redirect(reverse("queue", args=[check.code]))
    preview = services.preview_threshold(
        request.user, check, threshold_form.cleaned_data["threshold"], filter_form.filters()
    )
    query = request.GET.copy()
    query.pop("threshold", None)
    back = reverse("queue", args=[check.code]) + (f"?{query.urlencode()}" if query else "")
    from .dashboard import blind_share_by_band, threshold_expectation

    threshold = threshold_form.cleaned_data["threshold"]
    context = {
        "check": check,
        "preview": preview,
        "back": back,
        "expected": threshold_expectation(check.active_classifier, threshold),
        # reviewers' own decisions in the bands at or above the threshold
        "bands": [b for b in blind_share_by_band(check) if b["high"] > threshold],
    }
    return render(request, "moderation/confirm_threshold.html", context)


@require_POST
@reviewer_required
def release(request, check):
    services.release(request.user, check_or_404(check))
    return HttpResponse(status=204)


@require_POST
@reviewer_required
def undo(request):
    batch = request.POST.get("batch", "")
    try:
        result = services.undo(request.user, batch)
    except actions.ActionError as exc:
        messages.warning(request, str(exc))
        return redirect(safe_next(request, reverse("queue_start" if batch == "last" else "audit")))
    if result.changed:
        messages.success(request, result.message, extra_tags=str(result.batch))
    else:
        messages.warning(
            request,
            _("Nothing to undo: the %(asked)s reviews of that batch were already undone or have changed since.")
            % {"asked": f"{result.asked:,}"},
        )
    return redirect(safe_next(request, reverse("audit")))


@require_GET
@reviewer_required
def blinded(request, check):
    check = check_or_404(check)
    items = Paginator(queue.blinded_items(check, request.GET.get("q")), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "moderation/blinded.html",
        {"check": check, "checks": Check.objects.all(), "items": items, "q": request.GET.get("q", "")},
    )


@require_POST
@reviewer_required
def unblind(request, check):
    check = check_or_404(check)
    back = safe_next(request, reverse("blinded", args=[check.code]))
    data = decision(request, check)
    if data is None:
        return redirect(back)
    return act(request, back, services.unblind, check, data["review"], data["note"])


def reopened_decisions(history):
    """[(reopen action, the decision it reopened)] for each check whose latest action is a reopen (the text
    changed after a keep or an unblind): the reviewer sees what was decided before the text changed."""
    latest, decision, pairs = {}, {}, {}
    for action in history:
        check_id = action.moderation_check_id
        latest[check_id] = action
        if action.kind == Action.Kind.REOPEN:
            pairs[check_id] = (action, decision.get(check_id))
        else:
            decision[check_id] = action
    return [pairs[check_id] for check_id, action in latest.items() if action.kind == Action.Kind.REOPEN]


@require_GET
@reviewer_required
def review_page(request, pk):
    review = get_object_or_404(Review.objects.select_related("product"), pk=pk)
    history = list(review.actions.select_related("user", "moderation_check", "classifier").order_by("created_at", "pk"))
    return render(
        request,
        "moderation/review.html",
        {
            "review": review,
            "scores": review.scores.select_related("classifier", "moderation_check").order_by("-scored_at"),
            "items": review.queue_items.select_related("moderation_check", "classifier", "decided_by", "held_by"),
            "history": history,
            "reopened": reopened_decisions(history),
        },
    )


@require_GET
@reviewer_required
def audit_page(request):
    form = AuditFilterForm(request.GET)
    filters = form.cleaned_data if form.is_valid() else {}
    rows = Paginator(audit.actions(filters), 100).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "moderation/audit.html",
        {
            "form": form,
            "rows": rows,
            "query": query.urlencode(),
            "reverted": audit.reverted_batches({row.batch for row in rows}),
            "checks": Check.objects.all(),
        },
    )


@require_GET
@reviewer_required
def audit_csv(request):
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        return HttpResponseBadRequest(
            _("invalid filter: %(problems)s") % {"problems": problems} + "\n", content_type="text/plain; charset=utf-8"
        )
    try:
        export = audit.plan_export(form.cleaned_data)
    except audit.ExportRefused as exc:
        return HttpResponseBadRequest(f"{exc}\n", content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(audit.csv_lines(export), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["X-Hwadmin-Export-Range"] = export.range_text
    return response


# Shaped as queue_start and queue_page: each page has a start view that opens the default check's page.
@require_GET
@reviewer_required
def dashboard_start(request):
    return redirect("dashboard", check=default_check_or_404().code)


@require_GET
@reviewer_required
def dashboard_page(request, check):
    check = check_or_404(check)
    return render(
        request,
        "moderation/dashboard.html",
        {"check": check, "checks": Check.objects.all(), **dashboard.cached_summary(check)},
    )
