"""Register classifiers and choose the active one per check.

Registration loads the model directory once (in the calling process, never the
web process), runs one forward pass, and refuses anything that does not give
two-class output. Activation swaps the active classifier in one transaction and
queues a rescore of the visible reviews; workers notice the change on their
next task and load the new model.
"""

import json
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from .models import Check, Classifier

PROBE_TEXTS = ["아직 안 써봤어요. 써보고 후기 남길게요", "촉촉하고 순해서 매일 잘 쓰고 있어요"]


class RegistrationError(Exception):
    pass


def validate_model_dir(path):
    """Load the directory and score two probe texts; return the model's description."""
    from .scoring import ModelLoadError, load_model_dir, predict_proba

    try:
        model, tokenizer, max_length = load_model_dir(path)
    except ModelLoadError as exc:
        raise RegistrationError(str(exc)) from None
    try:
        probabilities = predict_proba(model, tokenizer, PROBE_TEXTS, max_length)
    except Exception as exc:
        raise RegistrationError(f"{path}: the model loads but fails on a test input: {exc}") from exc
    if not all(0.0 <= p <= 1.0 for p in probabilities):
        raise RegistrationError(f"{path}: the model gives invalid probabilities {probabilities}")
    return {
        "architecture": type(model).__name__,
        "model_type": model.config.model_type,
        "max_length": max_length,
        "vocab_size": getattr(model.config, "vocab_size", None),
        "labels": {str(k): v for k, v in (model.config.id2label or {}).items()},
    }


def read_metrics(path):
    metrics_file = Path(path) / "metrics.json"
    if not metrics_file.exists():
        return {}
    try:
        metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RegistrationError(f"{metrics_file}: not valid JSON ({exc}); fix or remove it") from None
    if not isinstance(metrics, dict):
        raise RegistrationError(f"{metrics_file}: must hold a JSON object of metric names and values")
    return metrics


def register(check_code, path, name=None, activate=False):
    """Validate and record a model directory for a check; optionally activate it."""
    try:
        check = Check.objects.get(code=check_code)
    except Check.DoesNotExist:
        codes = ", ".join(Check.objects.values_list("code", flat=True))
        raise RegistrationError(f"no check {check_code!r}; checks: {codes}") from None
    directory = Path(path).expanduser().resolve()
    description = validate_model_dir(directory)
    metrics = read_metrics(directory)
    classifier = Classifier.objects.create(
        moderation_check=check,
        name=name or directory.name,
        path=str(directory),
        metrics={**metrics, "_model": description},
    )
    if activate:
        activate_classifier(classifier)
    return classifier


@transaction.atomic
def activate_classifier(classifier):
    """Make this the check's active classifier and queue the rescore on commit."""
    check = Check.objects.select_for_update().get(pk=classifier.moderation_check_id)
    Classifier.objects.filter(moderation_check=check, is_active=True).exclude(pk=classifier.pk).update(is_active=False)
    Classifier.objects.filter(pk=classifier.pk).update(is_active=True, activated_at=timezone.now())
    classifier.refresh_from_db()

    def rescore():
        from .tasks import queue_unscored

        queue_unscored(check.code)

    transaction.on_commit(rescore)
    return classifier
