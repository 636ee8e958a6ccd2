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


class GateRefusal(RegistrationError):
    """The classifier was registered but not activated: it is worse than the active one."""

    def __init__(self, message, classifier):
        super().__init__(message)
        self.classifier = classifier


# The labelled set each check is gated on (the test split), unless --data names another.
GATE_DATA = {"unused": None}  # None: plm.datasets' default hand-labelled unused set
GATE_KEYS = ("auroc", "average_precision", "ece")


def gate_data(check_code, data_path=None):
    """(test texts, labels, source) of the labelled set for this check, or None when it has none."""
    from plm import datasets

    if data_path is None and check_code not in GATE_DATA:
        return None
    try:
        data = datasets.load_unused(data_path or GATE_DATA[check_code])
    except datasets.DatasetError as exc:
        raise RegistrationError(f"the gate's labelled set does not load: {exc}") from None
    texts, labels, _ = data.split("test")
    if len(set(labels)) != 2:
        raise RegistrationError("the gate's labelled set needs both labels in its test split")
    return data, texts, labels, str(data_path or datasets.unused_set_dir() / "reviews.jsonl")


def score_directory(path, texts):
    from .scoring import ModelLoadError, load_model_dir, predict_proba

    try:
        model, tokenizer, max_length = load_model_dir(path)
    except ModelLoadError as exc:
        raise RegistrationError(str(exc)) from None
    return predict_proba(model, tokenizer, texts, max_length)


def gate_report(check, path, data_path=None):
    """The model, the active classifier and the baseline on the same labelled test rows.

    Returns None when the check has no labelled set. The model's scores are calibrated (as the
    workers score); the baseline is fitted on the same set's train split.
    """
    from plm.baseline import describe, fit_baseline
    from plm.evaluation import binary_report, keyword_rule_scores

    found = gate_data(check.code, data_path)
    if found is None:
        return None
    data, texts, labels, source = found

    def figures(scores):
        report = binary_report(labels, scores)
        return {k: report[k] for k in GATE_KEYS}, report

    model_scores = score_directory(path, texts)
    model, model_report = figures(model_scores)
    train_texts, train_labels, _ = data.split("train")
    baseline, _ = figures(fit_baseline(train_texts, train_labels).scores(texts))
    rule, _ = figures(keyword_rule_scores(texts))
    active = check.classifiers.filter(is_active=True).first()
    active_figures = None
    if active is not None:
        try:
            active_figures = {"id": active.pk, "name": active.name, **figures(score_directory(active.path, texts))[0]}
        except RegistrationError as exc:  # its directory is gone: fall back to what its registration measured
            stored = (active.metrics or {}).get("_gate", {}).get("model")
            active_figures = {"id": active.pk, "name": active.name, **(stored or {}), "note": f"not rescored: {exc}"}
    return {
        "data": source, "split": "test", "examples": len(labels), "positives": int(sum(labels)),
        "model": model, "baseline": {**baseline, "model": describe()["name"]}, "keyword_rule": rule,
        "active": active_figures,
        "thresholds": model_report["thresholds"],
        # each test review's calibrated score and hand label: what a threshold is worth (dashboard, confirmation)
        "test_scores": sorted(([round(float(p), 6), int(y)] for p, y in zip(model_scores, labels)), reverse=True),
    }


def format_gate(report):
    def f(value):
        return "     -" if value is None else f"{value:6.3f}"

    rows = [("this model", report["model"]), ("baseline", report["baseline"]), ("keyword rule", report["keyword_rule"])]
    if report["active"]:
        rows.insert(1, (f"active #{report['active']['id']}", report["active"]))
    lines = [f"gate: labelled test split of {report['data']} ({report['examples']} reviews, "
             f"{report['positives']} positive)", f"  {'':16}{'AUROC':>7}{'AP':>7}{'ECE':>7}"]
    lines += [f"  {name:16}{f(r.get('auroc'))} {f(r.get('average_precision'))} {f(r.get('ece'))}" for name, r in rows]
    return "\n".join(lines)


def gate_refusal(report):
    """Why activation is refused (AP below the active classifier's on the same rows), or None."""
    active = report and report.get("active")
    if not active or active.get("average_precision") is None:
        return None
    ours, theirs = report["model"]["average_precision"], active["average_precision"]
    if ours < theirs:
        return (f"average precision {ours:.3f} is below the active classifier's ({active['name']} #{active['id']}: "
                f"{theirs:.3f}) on the same {report['examples']} labelled test reviews")
    return None


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


def register(check_code, path, name=None, activate=False, force=False, data_path=None, log=None):
    """Validate and record a model directory for a check; optionally activate it.

    The directory is scored on the check's labelled test split beside the active classifier and
    the baseline (stored as metrics["_gate"]). Activation is refused (GateRefusal, the classifier
    stays registered and inactive) when its average precision is below the active one's, unless
    `force`.
    """
    try:
        check = Check.objects.get(code=check_code)
    except Check.DoesNotExist:
        codes = ", ".join(Check.objects.values_list("code", flat=True))
        raise RegistrationError(f"no check {check_code!r}; checks: {codes}") from None
    directory = Path(path).expanduser().resolve()
    description = validate_model_dir(directory)
    metrics = read_metrics(directory)
    report = gate_report(check, directory, data_path)
    if log and report:
        log(format_gate(report))
    classifier = Classifier.objects.create(
        moderation_check=check,
        name=name or directory.name,
        path=str(directory),
        metrics={**metrics, "_model": description, **({"_gate": report} if report else {})},
    )
    if activate:
        refusal = gate_refusal(report)
        if refusal and not force:
            raise GateRefusal(
                f"registered classifier #{classifier.pk} but did not activate it: {refusal}. Pass --force to "
                f"activate it anyway (or `manage.py activate_classifier {classifier.pk}` later).", classifier)
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
