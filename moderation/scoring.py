"""Score reviews with a check's active classifier.

A worker process loads a registered HuggingFace model directory once
(`ElectraForSequenceClassification` or any sequence classifier, with its
tokenizer) and keeps it until the check's active classifier changes. Texts are
scored in batches sorted by length and padded per batch, under
`torch.inference_mode()`. torch is imported here, inside functions, so that
the web process, which imports this module's callers, never loads it.
"""

import logging
import threading
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from plm import calibration, morphemes

from .models import Check, Classifier, QueueItem, Review, Score, join_review_text

log = logging.getLogger(__name__)

POSITIVE_LABEL = 1  # index of the "violation" class (e.g. unused review) in a 2-class head


class ModelLoadError(Exception):
    """A classifier directory that cannot be loaded or does not fit the task."""


@dataclass
class LoadedClassifier:
    classifier_id: int
    path: str
    model: object
    tokenizer: object
    max_length: int


_cache = {}
_cache_lock = threading.Lock()


def configure_torch():
    import torch

    threads = settings.HWADMIN["TORCH_THREADS"]
    if threads and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return torch


def load_model_dir(path):
    """Load a model directory and its tokenizer; check it is a 2-class classifier."""
    from pathlib import Path

    directory = Path(path)
    if not directory.is_dir():
        raise ModelLoadError(f"{path}: no such directory")
    if not (directory / "config.json").exists():
        raise ModelLoadError(f"{path}: no config.json, so this is not a HuggingFace model directory")
    if not (directory / "tokenizer.json").exists():
        raise ModelLoadError(
            f"{path}: no tokenizer.json; save the tokenizer beside the model (tokenizer.save_pretrained(dir))"
        )
    configure_torch()
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        model = AutoModelForSequenceClassification.from_pretrained(str(directory))
    except Exception as exc:  # transformers raises many kinds here
        raise ModelLoadError(f"{path}: the model does not load: {exc}") from exc
    if model.config.num_labels != 2:
        raise ModelLoadError(
            f"{path}: the classifier has {model.config.num_labels} outputs; a check needs exactly 2 "
            f"(0 = fine, 1 = violation)"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(directory))
    except Exception as exc:
        raise ModelLoadError(f"{path}: the tokenizer does not load: {exc}") from exc
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(f"{path}: no tokenizer.json; save the tokenizer with its fast (tokenizer.json) files")
    try:
        # the calibration fitted on validation (calibration.json), applied to every score
        model.calibration = calibration.load(directory)
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


def get_classifier(classifier):
    """The loaded model for a Classifier row, loading it at most once per process."""
    with _cache_lock:
        loaded = _cache.get(classifier.moderation_check_id)
        if loaded and loaded.classifier_id == classifier.pk and loaded.path == classifier.path:
            return loaded
        model, tokenizer, max_length = load_model_dir(classifier.path)
        loaded = LoadedClassifier(classifier.pk, classifier.path, model, tokenizer, max_length)
        _cache[classifier.moderation_check_id] = loaded  # replaces (and frees) the previous one
        log.info("loaded classifier %s from %s", classifier.pk, classifier.path)
        return loaded


def predict_proba(model, tokenizer, texts, max_length, batch_size=None, calibrated=True):
    """P(violation) for each text, in input order.

    Texts are sorted by token count so each batch pads to its own longest text. The model
    directory's calibration (see `load_model_dir`) maps each logit margin to the probability
    unless `calibrated` is False (the raw softmax).
    """
    torch = configure_torch()
    fitted = getattr(model, "calibration", None) if calibrated else None
    if not texts:
        return []
    batch_size = batch_size or settings.HWADMIN["SCORE_BATCH_SIZE"]
    texts = morphemes.preprocess(getattr(model, "preprocess", None), texts)
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
                probabilities[i] = calibration.apply(fitted, d)
    return probabilities


def score_reviews(review_ids, check_code=None):
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


def score_with(classifier, review_ids):
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


@transaction.atomic
def write_scores(classifier, review_ids, probabilities):
    """Store scores; move the queue's sort key if the classifier is still active."""
    now = timezone.now()
    check = Check.objects.select_for_update().get(pk=classifier.moderation_check_id)
    existing = set(Review.objects.filter(pk__in=review_ids).values_list("pk", flat=True))
    rows = [
        Score(review_id=pk, moderation_check=check, classifier=classifier, probability=p, scored_at=now)
        for pk, p in zip(review_ids, probabilities)
        if pk in existing  # a review deleted while we scored it
    ]
    before = Score.objects.filter(classifier=classifier, review_id__in=existing).count()
    Score.objects.bulk_create(rows, ignore_conflicts=True)
    written = Score.objects.filter(classifier=classifier, review_id__in=existing).count() - before
    still_active = Classifier.objects.filter(pk=classifier.pk, is_active=True).exists()
    if still_active and rows:
        QueueItem.objects.bulk_create(
            [
                QueueItem(
                    review_id=row.review_id,
                    moderation_check=check,
                    probability=row.probability,
                    classifier=classifier,
                    scored_at=now,
                )
                for row in rows
            ],
            update_conflicts=True,
            unique_fields=["review", "moderation_check"],
            update_fields=["probability", "classifier", "scored_at"],
        )
    return written


def unscored_review_ids(classifier):
    """Visible reviews with no score from this classifier (the sweep's work list)."""
    return (
        Review.objects.filter(visibility=Review.Visibility.VISIBLE)
        .filter(~Exists(Score.objects.filter(classifier=classifier, review=OuterRef("pk"))))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def score_pending_now(check_code=None, progress=False, chunk_size=None):
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
