"""Score reviews with a check's active classifier.

A worker process loads a registered HuggingFace model directory once
(`ElectraForSequenceClassification` or any sequence classifier, with its
tokenizer) and keeps it until the check's active classifier changes. Texts are
scored in batches sorted by length and padded per batch, under
`torch.inference_mode()`. torch is imported here, inside functions, so that
the web process, which imports this module's callers, never loads it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from plm import calibration, morphemes

from . import db
from .models import Check, Classifier, Review, Score, join_review_text

if TYPE_CHECKING:
    from os import PathLike
    from pathlib import Path
    from types import ModuleType

    from django.db.models import QuerySet
    from tokenizers import Tokenizer
    from transformers import PreTrainedModel, PreTrainedTokenizerBase, PreTrainedTokenizerFast

    from .onnx_scoring import OnnxClassifier

log = logging.getLogger(__name__)

POSITIVE_LABEL = 1  # index of the "violation" class (e.g. unused review) in a 2-class head


class ModelLoadError(Exception):
    """A classifier directory that cannot be loaded or does not fit the task."""


# Weights in these formats unpickle (and so can run code) when loaded: never read, never copied in.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")


def model_root() -> Path:
    """HWADMIN_MODEL_DIR, resolved: the only place workers load classifiers from."""
    from pathlib import Path

    return Path(settings.HWADMIN["MODEL_DIR"]).expanduser().resolve()


def inside_model_root(path: str | PathLike[str]) -> bool:
    """Whether the directory (symlinks resolved) lies under HWADMIN_MODEL_DIR."""
    from pathlib import Path

    return model_root() in Path(path).expanduser().resolve().parents


def check_inside_model_root(path: str | PathLike[str]) -> Path:
    """The resolved directory, if it and every file in it lie under HWADMIN_MODEL_DIR; ModelLoadError if not."""
    from pathlib import Path

    root = model_root()
    directory = Path(path).expanduser().resolve()
    if root not in directory.parents:
        raise ModelLoadError(
            f"{path}: resolves to {directory}, outside HWADMIN_MODEL_DIR ({root}); classifiers are loaded only "
            f"from there. Register the directory again (`manage.py register_classifier --check CHECK {path}` copies "
            f"it in) and activate the new classifier"
        )
    if directory.is_dir():
        for item in directory.iterdir():
            if root not in item.resolve().parents:
                raise ModelLoadError(
                    f"{path}: {item.name} is a link to {item.resolve()}, outside HWADMIN_MODEL_DIR ({root}); "
                    f"refusing to load it"
                )
    return directory


def check_model_files(directory: Path, path: str | PathLike[str] | None = None) -> None:
    """Refuse, before loading anything, a directory that is not a model directory hwadmin loads."""
    path = path or directory
    if not directory.is_dir():
        raise ModelLoadError(f"{path}: no such directory")
    if not (directory / "config.json").exists():
        raise ModelLoadError(f"{path}: no config.json, so this is not a HuggingFace model directory")
    check_weights_format(directory, path)
    if not (directory / "tokenizer.json").exists():
        raise ModelLoadError(
            f"{path}: no tokenizer.json; save the tokenizer beside the model (tokenizer.save_pretrained(dir))"
        )


def check_weights_format(directory: Path, path: str | PathLike[str] | None = None) -> None:
    """Refuse a directory whose weights are only pickles (pytorch_model.bin and the like)."""
    path = path or directory
    if any(directory.glob("*.safetensors")):
        return
    pickles = sorted(f.name for f in directory.iterdir() if f.name.endswith(PICKLE_SUFFIXES))
    if pickles:
        raise ModelLoadError(
            f"{path}: its weights are pickles only ({', '.join(pickles)}), which can run code when loaded; "
            f"hwadmin loads safetensors only. Convert it where you trust it: "
            f"AutoModelForSequenceClassification.from_pretrained(dir).save_pretrained(dir) writes model.safetensors"
        )
    raise ModelLoadError(f"{path}: no model.safetensors (hwadmin loads safetensors weights only)")


@dataclass
class LoadedClassifier:
    classifier_id: int
    path: str
    model: object
    tokenizer: object
    max_length: int


_cache = {}
_cache_lock = threading.Lock()


def configure_torch() -> ModuleType:
    import torch

    threads = settings.HWADMIN["TORCH_THREADS"]
    if threads and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return torch


@contextmanager
def no_progress_bars():
    """transformers without its "Loading weights" progress bar: in a worker, tqdm's lines land in the log
    as WARNING records of `celery.redirected`, one per load, and in a command's output between its own lines."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def load_model_dir(path: str | PathLike[str]) -> tuple[PreTrainedModel, PreTrainedTokenizerFast, int]:
    """Load a model directory and its tokenizer; check it is a 2-class classifier.

    Safetensors weights only, and no code from the directory (trust_remote_code=False). Workers load
    registered classifiers through `get_classifier`, which also requires the directory to lie under
    HWADMIN_MODEL_DIR; the workshop's commands use this directly on directories they just built.
    """
    from pathlib import Path

    directory = Path(path)
    check_model_files(directory, path)
    configure_torch()
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        # Never the directory's own Python code (config.json's auto_map), never pickled weights.
        with no_progress_bars():
            model = AutoModelForSequenceClassification.from_pretrained(
                str(directory), trust_remote_code=False, use_safetensors=True
            )
    except Exception as exc:  # transformers raises many kinds here
        raise ModelLoadError(f"{path}: the model does not load: {exc}") from exc
    if model.config.num_labels != 2:
        raise ModelLoadError(
            f"{path}: the classifier has {model.config.num_labels} outputs; a check needs exactly 2 "
            f"(0 = fine, 1 = violation)"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(directory), trust_remote_code=False)
    except Exception as exc:
        raise ModelLoadError(f"{path}: the tokenizer does not load: {exc}") from exc
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(f"{path}: no tokenizer.json; save the tokenizer with its fast (tokenizer.json) files")
    try:
        # the calibration fitted on validation (calibration.json), applied to every score
        model.calibration = calibration.load(directory)
        # the companion regression a stacking calibration adds (companion.json), or None
        model.companion = calibration.load_companion(directory, model.calibration)
        # what the model reads: the raw text, or its Kiwi morphemes (config.json's hwadmin_preprocess)
        model.preprocess = morphemes.check(getattr(model.config, morphemes.CONFIG_KEY, None))
    except (calibration.CalibrationError, morphemes.PreprocessError) as exc:
        raise ModelLoadError(str(exc) if isinstance(exc, calibration.CalibrationError) else f"{path}: {exc}") from None
    model.eval()
    max_length = min(
        settings.HWADMIN["MAX_SEQ_LENGTH"],
        getattr(model.config, "max_position_embeddings", 512) or 512,
    )
    return model, tokenizer, max_length


def get_classifier(classifier: Classifier) -> LoadedClassifier:
    """The loaded model for a Classifier row, loading it at most once per process."""
    with _cache_lock:
        loaded = _cache.get(classifier.moderation_check_id)
        if loaded and loaded.classifier_id == classifier.pk and loaded.path == classifier.path:
            return loaded
        check_inside_model_root(classifier.path)
        from .onnx_scoring import load_for_worker

        # torch, or ONNX Runtime int8 without torch (HWADMIN_SCORING_RUNTIME; moderation/onnx_scoring.py)
        model, tokenizer, max_length = load_for_worker(classifier)
        loaded = LoadedClassifier(classifier.pk, classifier.path, model, tokenizer, max_length)
        _cache[classifier.moderation_check_id] = loaded  # replaces (and frees) the previous one
        log.info("loaded classifier %s from %s", classifier.pk, classifier.path)
        return loaded


def predict_proba(
    model: PreTrainedModel | OnnxClassifier,
    tokenizer: PreTrainedTokenizerBase | Tokenizer,
    texts: Sequence[str],
    max_length: int,
    batch_size: int | None = None,
    calibrated: bool = True,
) -> list[float]:
    """P(violation) for each text, in input order.

    Texts are sorted by token count so each batch pads to its own longest text. The model
    directory's calibration (see `load_model_dir`) maps each logit margin to the probability
    unless `calibrated` is False (the raw softmax).
    """
    if getattr(model, "runtime", None) == "onnx":  # an int8 OnnxClassifier (moderation/onnx_scoring.py): no torch
        return model.predict_proba(texts, max_length, batch_size, calibrated)
    torch = configure_torch()
    fitted = getattr(model, "calibration", None) if calibrated else None
    if not texts:
        return []
    batch_size = batch_size or settings.HWADMIN["SCORE_BATCH_SIZE"]
    raw_texts, texts = texts, morphemes.preprocess(getattr(model, "preprocess", None), texts)
    companion = companion_margins(model, fitted, raw_texts, texts)
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
    probabilities = [0.0] * len(texts)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            indices = order[start : start + batch_size]
            batch = tokenizer.pad({"input_ids": [encoded[i] for i in indices]}, return_tensors="pt")
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            logits = logits.float()
            margins = (logits[:, POSITIVE_LABEL] - logits[:, 1 - POSITIVE_LABEL]).tolist()
            for i, d in zip(indices, margins):
                probabilities[i] = calibration.apply(fitted, d, companion[i] if companion else None)
    return probabilities


def companion_margins(model, fitted, raw_texts, read_texts):
    """The companion regression's margins for the texts when the calibration stacks one (both
    runtimes), else None; reuses the morphemes already split for the model."""
    companion = getattr(model, "companion", None)
    if not fitted or companion is None:
        return None
    return companion.margins(raw_texts, read_texts, getattr(model, "preprocess", None))


def score_reviews(review_ids: Collection[int], check_code: str | None = None) -> int:
    """Score the given reviews with every active classifier (or one check's).

    Idempotent: reviews that already have a score from the classifier are
    skipped, and the unique constraint stops a racing duplicate. Returns the
    number of scores written.
    """
    classifiers = Classifier.objects.filter(is_active=True).select_related("moderation_check")
    if check_code:
        classifiers = classifiers.filter(moderation_check__code=check_code)
    written = 0
    for classifier in classifiers:
        written += score_with(classifier, review_ids)
    return written


def score_with(classifier: Classifier, review_ids: Collection[int]) -> int:
    done = set(
        Score.objects.filter(classifier=classifier, review_id__in=review_ids).values_list("review_id", flat=True)
    )
    reviews = list(
        Review.objects.filter(pk__in=review_ids, visibility=Review.Visibility.VISIBLE)
        .exclude(pk__in=done)
        .values_list("pk", "good_text", "bad_text")
    )
    if not reviews:
        return 0
    loaded = get_classifier(classifier)
    texts = [join_review_text(good, bad) for _, good, bad in reviews]
    probabilities = predict_proba(loaded.model, loaded.tokenizer, texts, loaded.max_length)
    return write_scores(classifier, [pk for pk, _, _ in reviews], probabilities)


def write_scores(classifier: Classifier, review_ids: Collection[int], probabilities: Iterable[float]) -> int:
    """Store scores; move the queue's sort key if the classifier is still active. Returns the number of
    scores written (a review scored before keeps its score; a review deleted meanwhile gets none).

    The check's row is locked first, so a write and an activation (`registry.activate_classifier`)
    under one check never interleave. The rows are written by the database engine
    (`moderation.db`: one statement on PostgreSQL)."""
    own_transaction = not transaction.get_connection().in_atomic_block
    with transaction.atomic():
        Check.objects.select_for_update().only("pk").get(pk=classifier.moderation_check_id)
        return db.engine().write_scores(
            db.ScoresWrite(
                classifier_id=classifier.pk,
                check_id=classifier.moderation_check_id,
                review_ids=list(review_ids),
                probabilities=list(probabilities),
                now=timezone.now(),
                no_flush=own_transaction,
            )
        )


def unscored_review_ids(classifier: Classifier) -> QuerySet[Review, int]:
    """Visible reviews with no score from this classifier (the sweep's work list)."""
    return (
        Review.objects.filter(visibility=Review.Visibility.VISIBLE)
        .filter(~Exists(Score.objects.filter(classifier=classifier, review=OuterRef("pk"))))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def score_pending_now(check_code: str | None = None, progress: bool = False, chunk_size: int | None = None) -> int:
    """Score every pending review in this process (for `score_pending --now` and the demo)."""
    from tqdm import tqdm

    chunk_size = chunk_size or settings.HWADMIN["SCORE_TASK_SIZE"]
    classifiers = Classifier.objects.filter(is_active=True)
    if check_code:
        classifiers = classifiers.filter(moderation_check__code=check_code)
    written = 0
    for classifier in classifiers:
        ids = list(unscored_review_ids(classifier))
        with tqdm(total=len(ids), desc=f"scoring with {classifier.name}", unit=" reviews", disable=not progress) as bar:
            for start in range(0, len(ids), chunk_size):
                part = ids[start : start + chunk_size]
                written += score_with(classifier, part)
                bar.update(len(part))
    return written
