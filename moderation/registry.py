"""Register classifiers and choose the active one per check.

Registration loads the model directory once (in the calling process, never the
web process), runs one forward pass, and refuses anything that does not give
two-class output. Workers load classifiers only from under HWADMIN_MODEL_DIR:
a directory elsewhere is copied in first (its safetensors weights, config,
tokenizer and small side files; never pickles or code), and the copy is what
gets registered. Activation swaps the active classifier in one transaction and
queues a rescore of the visible reviews; workers notice the change on their
next task and load the new model.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from .models import Check, Classifier

if TYPE_CHECKING:
    from os import PathLike

    from plm.datasets import LabelledSet

PROBE_TEXTS = ["아직 안 써봤어요. 써보고 후기 남길게요", "촉촉하고 순해서 매일 잘 쓰고 있어요"]


class RegistrationError(Exception):
    pass


class GateRefusal(RegistrationError):
    """The classifier was registered but not activated: it is worse than the active one."""

    def __init__(self, message: str, classifier: Classifier) -> None:
        super().__init__(message)
        self.classifier = classifier


# The labelled set each check is gated on (the test split), unless --data names another.
GATE_DATA = {"unused": None}  # None: plm.datasets' default hand-labelled unused set
GATE_KEYS = ("auroc", "average_precision", "ece")


def gate_data(
    check_code: str, data_path: str | PathLike[str] | None = None
) -> tuple[LabelledSet, list[str], list[int], str] | None:
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


GATE_BOOTSTRAP = 1000  # resamples of the test products for the gate's intervals


def gate_intervals(data: LabelledSet, labels: Sequence[int], scores: dict[str, Sequence[float]]) -> dict[str, Any]:
    """95 % intervals of AUROC and AP for the model, the active classifier and the baseline, and of the model's
    paired differences from them, over resamples of the test split's products (`plm.evaluation.paired_bootstrap`):
    is a difference at the gate more than the test split's noise?"""
    from plm.evaluation import paired_bootstrap, product_groups

    _, _, indices = data.split("test")
    groups, unit = product_groups([data.groups[i] for i in indices] if data.groups else [], "review")
    return paired_bootstrap(labels, scores, "model", rounds=GATE_BOOTSTRAP, groups=groups, unit=unit)


def score_directory(path: str | PathLike[str], texts: Sequence[str], registered: bool = False) -> list[float]:
    from .scoring import ModelLoadError, check_inside_model_root, load_model_dir, predict_proba

    try:
        if registered:  # a Classifier row's path: loaded only from under HWADMIN_MODEL_DIR, as workers do
            check_inside_model_root(path)
        model, tokenizer, max_length = load_model_dir(path)
    except ModelLoadError as exc:
        raise RegistrationError(str(exc)) from None
    return predict_proba(model, tokenizer, texts, max_length)


def gate_report(
    check: Check, path: str | PathLike[str], data_path: str | PathLike[str] | None = None
) -> dict[str, Any] | None:
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
    baseline_scores = fit_baseline(train_texts, train_labels).scores(texts)
    baseline, _ = figures(baseline_scores)
    rule, _ = figures(keyword_rule_scores(texts))
    active = check.classifiers.filter(is_active=True).first()
    active_figures, compared = None, {"model": model_scores}
    if active is not None:
        try:
            compared["active"] = score_directory(active.path, texts, registered=True)
            active_figures = {"id": active.pk, "name": active.name, **figures(compared["active"])[0]}
        except RegistrationError as exc:  # its directory is gone: fall back to what its registration measured
            stored = (active.metrics or {}).get("_gate", {}).get("model")
            active_figures = {"id": active.pk, "name": active.name, **(stored or {}), "note": f"not rescored: {exc}"}
    return {
        "data": source,
        "split": "test",
        "examples": len(labels),
        "positives": int(sum(labels)),
        "model": model,
        "baseline": {**baseline, "model": describe()["name"]},
        "keyword_rule": rule,
        "active": active_figures,
        "bootstrap": gate_intervals(data, labels, {**compared, "baseline": baseline_scores}),
        "thresholds": model_report["thresholds"],
        # each test review's calibrated score and hand label: what a threshold is worth (dashboard, confirmation)
        "test_scores": sorted(([round(float(p), 6), int(y)] for p, y in zip(model_scores, labels)), reverse=True),
    }


def format_gate(report: Mapping[str, Any]) -> str:
    def f(value):
        return "     -" if value is None else f"{value:6.3f}"

    rows = [("this model", report["model"]), ("baseline", report["baseline"]), ("keyword rule", report["keyword_rule"])]
    if report["active"]:
        rows.insert(1, (f"active #{report['active']['id']}", report["active"]))
    lines = [
        f"gate: labelled test split of {report['data']} ({report['examples']} reviews, {report['positives']} positive)",
        f"  {'':16}{'AUROC':>7}{'AP':>7}{'ECE':>7}",
    ]
    lines += [f"  {name:16}{f(r.get('auroc'))} {f(r.get('average_precision'))} {f(r.get('ece'))}" for name, r in rows]
    if report.get("bootstrap"):
        from plm.evaluation import format_bootstrap

        names = {"model": "this model", "active": f"active #{(report['active'] or {}).get('id')}"}
        lines.append(format_bootstrap(report["bootstrap"], names, indent="  "))
    return "\n".join(lines)


def gate_refusal(report: Mapping[str, Any] | None) -> str | None:
    """Why activation is refused (AP below the active classifier's on the same rows), or None."""
    active = report and report.get("active")
    if not active or active.get("average_precision") is None:
        return None
    ours, theirs = report["model"]["average_precision"], active["average_precision"]
    if ours < theirs:
        why = (
            f"average precision {ours:.3f} is below the active classifier's ({active['name']} #{active['id']}: "
            f"{theirs:.3f}) on the same {report['examples']} labelled test reviews"
        )
        difference = (
            ((report.get("bootstrap") or {}).get("differences") or {}).get("active", {}).get("average_precision")
        )
        if difference and difference.get("low") is not None:
            by = report["bootstrap"]["resampled_by"]
            noise = "within" if difference["low"] <= 0 <= difference["high"] else "beyond"
            why += (
                f"; the difference, {difference['point']:+.3f} (95 % {difference['low']:+.3f} to "
                f"{difference['high']:+.3f} over resampled {by}s), is {noise} the test split's noise"
            )
        return why
    return None


def validate_model_dir(path: str | PathLike[str]) -> dict[str, Any]:
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


def read_metrics(path: str | PathLike[str]) -> dict[str, Any]:
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


# Copied into HWADMIN_MODEL_DIR whatever their size: what a HuggingFace classifier directory needs.
MODEL_FILES = {
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "calibration.json",
    "companion.json",
    "metrics.json",
    "model.safetensors.index.json",
}
SIDE_FILE_MAX_BYTES = 5 * 1024 * 1024  # other files (a model card, plots, predictions) up to this size


def import_model_dir(
    check_code: str,
    path: str | PathLike[str],
    name: str | None = None,
    log: Callable[[str], object] | None = None,
    check_files: Callable[[Path, str | PathLike[str]], None] | None = None,
    subdirectories: Iterable[str] = (),
) -> tuple[Path, bool]:
    """The directory to register and whether it is a fresh copy.

    A directory under HWADMIN_MODEL_DIR is registered where it is. Any other is copied to
    MODEL_DIR/<check>-<name or timestamp>/: weights (safetensors only), config, tokenizer files and
    the other small files; pickles (pytorch_model.bin, *.pt, *.pkl, ...), Python files and
    subdirectories stay behind, except the `subdirectories` named, whose files are chosen by the same
    rule (a back-off attribute tagger's partner). A directory whose weights are only pickles is refused.
    `check_files(directory, path)` raises ModelLoadError for a directory that is not of the kind
    registered (default: a HuggingFace model directory, `scoring.check_model_files`).
    """
    from .scoring import (
        PICKLE_SUFFIXES,
        ModelLoadError,
        check_inside_model_root,
        check_model_files,
        inside_model_root,
        model_root,
    )

    source = Path(path).expanduser()
    try:
        (check_files or check_model_files)(source, path)
        if inside_model_root(source):
            return check_inside_model_root(source), False
    except ModelLoadError as exc:
        raise RegistrationError(str(exc)) from None
    source = source.resolve()
    copied, skipped = [], []
    subdirectories = set(subdirectories)
    for item in sorted(source.iterdir()):
        inside = sorted(item.iterdir()) if item.name in subdirectories and item.is_dir() else [item]
        for entry in inside:
            wanted = entry.is_file() and (
                entry.name in MODEL_FILES
                or entry.suffix in (".safetensors", ".model")
                or (
                    entry.stat().st_size <= SIDE_FILE_MAX_BYTES
                    and not entry.name.endswith(PICKLE_SUFFIXES)
                    and entry.suffix not in (".py", ".pyc", ".so")
                )
            )
            (copied if wanted else skipped).append(entry)
    root = model_root()
    root.mkdir(parents=True, exist_ok=True)
    stem = f"{slugify(check_code)}-{slugify(name or '') or timezone.now().strftime('%Y%m%d-%H%M%S')}"
    target, n = root / stem, 2
    while target.exists():
        target, n = root / f"{stem}-{n}", n + 1
    incoming = Path(tempfile.mkdtemp(prefix=f".incoming-{stem}-", dir=root))
    try:
        for item in copied:
            destination = incoming / item.relative_to(source)
            destination.parent.mkdir(exist_ok=True)
            shutil.copyfile(item, destination)  # the file's content: a link is not followed later
        incoming.chmod(0o755)
        incoming.rename(target)
    except BaseException:
        shutil.rmtree(incoming, ignore_errors=True)
        raise
    if log:
        log(
            f"copied {len(copied)} files from {source} to {target}"
            + (f"; left behind: {', '.join(str(i.relative_to(source)) for i in skipped)}" if skipped else "")
        )
    return target, True


ONNX_WHEN = ("now", "later", "skip")


def register(
    check_code: str,
    path: str | PathLike[str],
    name: str | None = None,
    activate: bool = False,
    force: bool = False,
    data_path: str | None = None,
    log: Callable[[str], object] | None = None,
    onnx: str = "now",
) -> Classifier:
    """Validate and record a model directory for a check; optionally activate it.

    A directory outside HWADMIN_MODEL_DIR is copied in first (`import_model_dir`) and the copy is
    registered.

    The directory is scored on the check's labelled test split beside the active classifier and
    the baseline (stored as metrics["_gate"]). Activation is refused (GateRefusal, the classifier
    stays registered and inactive) when its average precision is below the active one's, unless
    `force`.

    `onnx`: when to build and verify the int8 ONNX model (`export_int8`): "now" (before this returns),
    "later" (a Celery task after the commit: registration takes seconds, workers use torch until it is
    verified) or "skip".
    """
    if onnx not in ONNX_WHEN:
        raise RegistrationError(f"onnx must be one of {', '.join(ONNX_WHEN)} (got {onnx!r})")
    try:
        check = Check.objects.get(code=check_code)
    except Check.DoesNotExist:
        codes = ", ".join(Check.objects.values_list("code", flat=True))
        raise RegistrationError(f"no check {check_code!r}; checks: {codes}") from None
    directory, copied = import_model_dir(check.code, path, name, log)
    try:
        description = validate_model_dir(directory)
        metrics = read_metrics(directory)
        report = gate_report(check, directory, data_path)
    except RegistrationError as exc:
        if not copied:
            raise
        shutil.rmtree(directory, ignore_errors=True)  # nothing registered: drop the copy, name the original
        raise RegistrationError(str(exc).replace(str(directory), str(path))) from None
    except BaseException:
        if copied:
            shutil.rmtree(directory, ignore_errors=True)
        raise
    if log and report:
        log(format_gate(report))
    if onnx == "now":
        from .onnx_scoring import build_int8

        # model.int8.onnx beside the weights, verified on the same test split (never read from the directory's files)
        metrics["_onnx"] = build_int8(directory, check.code, data_path, log)
    else:
        metrics["_onnx"] = {"verified": False, "pending": onnx == "later", "skipped": onnx == "skip"}
    classifier = Classifier.objects.create(
        moderation_check=check,
        name=name or Path(path).expanduser().resolve().name,
        path=str(directory),
        metrics={**metrics, "_model": description, **({"_gate": report} if report else {})},
    )
    if onnx == "later":
        from .tasks import export_onnx

        pk = classifier.pk
        transaction.on_commit(lambda: export_onnx.delay(pk, data_path))
        if log:
            log("int8 ONNX: queued (a worker builds and verifies it; until then workers score with torch)")
    if activate:
        refusal = gate_refusal(report)
        if refusal and not force:
            raise GateRefusal(
                f"registered classifier #{classifier.pk} but did not activate it: {refusal}. Pass --force to "
                f"activate it anyway (or `manage.py activate_classifier {classifier.pk}` later).",
                classifier,
            )
        activate_classifier(classifier)
    return classifier


def export_int8(
    classifier: Classifier, data_path: str | PathLike[str] | None = None, log: Callable[[str], object] | None = None
) -> dict[str, Any]:
    """Build and verify the int8 ONNX model of a registered classifier and record the result on its row
    (metrics["_onnx"]); `manage.py export_onnx` and the task that `register(onnx="later")` queues."""
    from .onnx_scoring import build_int8
    from .scoring import check_inside_model_root

    directory = check_inside_model_root(classifier.path)
    report = build_int8(directory, classifier.moderation_check.code, data_path, log=log)
    with transaction.atomic():
        row = Classifier.objects.select_for_update().get(pk=classifier.pk)
        row.metrics = {**(row.metrics or {}), "_onnx": report}
        row.save(update_fields=["metrics"])
    return report


@transaction.atomic
def activate_classifier(classifier: Classifier) -> Classifier:
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
