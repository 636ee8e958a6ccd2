"""Tag reviews' sentences and store one ReviewAttribute row per (review, attribute): the strongest sentence.

Idempotent: a review whose text (hash of good_text and bad_text) this tagger already tagged is
skipped; a review whose text changed is tagged again and its old rows replaced.
"""

import hashlib
import logging
import re
from dataclasses import dataclass

from django.db import transaction

from .models import ReviewAttribute, TaggedReview
from .taggers import active_tagger, sentence_tagger

log = logging.getLogger(__name__)

FIELDS = ("good_text", "bad_text")


def text_hash(good_text, bad_text):
    return hashlib.sha256(f"{good_text}\x00{bad_text}".encode("utf-8", "surrogatepass")).hexdigest()


def locate(text, sentence, cursor):
    """(start, end) of the sentence in the original text from `cursor`, or None. The splitter normalises
    spaces (a no-break space becomes a space, runs collapse), so spaces match any run of spaces, or none."""
    where = text.find(sentence, cursor)
    if where >= 0:
        return where, where + len(sentence)
    words = sentence.split()
    if not words:
        return None
    pattern = re.compile(r"[\s\u200b\ufeff]*".join(re.escape(word) for word in words))
    match = pattern.search(text, cursor)
    return (match.start(), match.end()) if match else None


def sentence_spans(text, sentences):
    """[(sentence, start, end)] of one text field; start/end None where the splitter changed more than spaces."""
    spans, cursor = [], 0
    for sentence in sentences:
        span = locate(text, sentence, cursor)
        if span is None:
            spans.append((sentence, None, None))
            continue
        spans.append((sentence, *span))
        cursor = span[1]
    return spans


@dataclass
class Summary:
    tagged: int = 0  # reviews tagged for the first time by this tagger
    retagged: int = 0  # reviews whose text changed since this tagger tagged them
    unchanged: int = 0  # skipped: same text, same tagger
    rows: int = 0  # ReviewAttribute rows written
    sentences: int = 0

    def add(self, other):
        for name in ("tagged", "retagged", "unchanged", "rows", "sentences"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def line(self, tagger):
        return (
            f"{self.tagged} reviews tagged, {self.retagged} re-tagged (text changed), {self.unchanged} unchanged; "
            f"{self.rows} attribute rows written from {self.sentences} sentences with {tagger}"
        )


def review_spans(reviews):
    """Per review, [(field, sentence, start, end)]: its good part's sentences, then its bad part's."""
    from plm.attributes import split_many

    texts = [getattr(review, name) or "" for review in reviews for name in FIELDS]
    split = iter(split_many(texts) if texts else [])
    out = []
    for review in reviews:
        spans = []
        for name in FIELDS:
            spans += [(name, *span) for span in sentence_spans(getattr(review, name) or "", next(split))]
        out.append(spans)
    return out


def strongest(spans, tags):
    """{attribute: (polarity, probability, sentence, field, start, end)}: per attribute, its strongest sentence."""
    found = {}
    for (name, sentence, start, end), labels in zip(spans, tags, strict=True):
        for attribute, (polarity, probability) in labels.items():
            if attribute not in found or probability > found[attribute][1]:  # ties: the first sentence
                found[attribute] = (polarity, probability, sentence, name, start, end)
    return found


def tag_reviews(reviews, model=None):
    """Tag these Review rows (good_text and bad_text loaded) with the active tagger; a Summary."""
    model = model or active_tagger()
    tagger = sentence_tagger(model)
    reviews = list(reviews)
    summary = Summary()
    done = dict(
        TaggedReview.objects.filter(tagger=model, review_id__in=[r.pk for r in reviews]).values_list(
            "review_id", "text_hash"
        )
    )
    todo = []
    for review in reviews:
        digest = text_hash(review.good_text, review.bad_text)
        if done.get(review.pk) == digest:
            summary.unchanged += 1
            continue
        todo.append((review, digest))
        if review.pk in done:
            summary.retagged += 1
        else:
            summary.tagged += 1
    if not todo:
        return summary
    todo = [
        (review, digest, spans)
        for (review, digest), spans in zip(todo, review_spans([r for r, _ in todo]), strict=True)
    ]
    # One call for the whole batch: a model tagger batches the sentences of many reviews together.
    sentences = [sentence for _, _, spans in todo for _, sentence, _, _ in spans]
    summary.sentences = len(sentences)
    tags = iter(tagger.tag_sentences(sentences) if sentences else [])
    work = [(review, digest, strongest(spans, [next(tags) for _ in spans])) for review, digest, spans in todo]
    rows = [
        ReviewAttribute(
            review_id=review.pk,
            tagger=model,
            attribute=attribute,
            polarity=polarity,
            probability=probability,
            sentence=sentence,
            field=name,
            start=start,
            end=end,
            text_hash=digest,
        )
        for review, digest, found in work
        for attribute, (polarity, probability, sentence, name, start, end) in found.items()
    ]
    ids = [review.pk for review, _, _ in work]
    with transaction.atomic():
        ReviewAttribute.objects.filter(tagger=model, review_id__in=ids).delete()
        TaggedReview.objects.filter(tagger=model, review_id__in=ids).delete()
        # A racing run (the Celery task and the command on the same review) wrote the same rows: keep one.
        ReviewAttribute.objects.bulk_create(rows, ignore_conflicts=True)
        TaggedReview.objects.bulk_create(
            [TaggedReview(review_id=review.pk, tagger=model, text_hash=digest) for review, digest, _ in work],
            ignore_conflicts=True,
        )
    summary.rows = len(rows)
    return summary
