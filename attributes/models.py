"""Product attributes extracted from review sentences.

An AttributeModel is a registered sentence tagger, versioned like moderation's Classifier: the
taxonomy's phrase tagger (kind "phrases", registered automatically) or a fine-tuned multi-label
ELECTRA directory (kind "electra"). Exactly one is active.

`extract_attributes` (and the Celery task after scoring) tags each review's sentences and keeps,
per (review, attribute), the strongest sentence: one ReviewAttribute row. A TaggedReview row per
(review, tagger) records the text hash that was tagged, so that a rerun skips unchanged reviews,
reviews without any attribute included, and a review whose text changed is tagged again.
"""

from django.db import models
from django.db.models import Q

from moderation.models import RegisteredModel, Review


class AttributeModel(RegisteredModel):
    """A registered sentence tagger; `path` is, for phrases, the taxonomy file, for electra, a HuggingFace
    directory under HWADMIN_MODEL_DIR, for backoff, a plm.attribute_backoff directory there. One is
    active at a time."""

    class Kind(models.TextChoices):
        PHRASES = "phrases", "phrase tagger (the taxonomy's example phrases)"
        ELECTRA = "electra", "ELECTRA multi-label sentence classifier"
        BACKOFF = "backoff", "phrases, backed off to a char n-gram regression"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    taxonomy_version = models.PositiveIntegerField()

    # Shaped as moderation's Classifier.Meta, but one active tagger in all, not one per check: each keeps its own.
    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="one_active_attribute_model"
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.kind}) #{self.pk}"


class TaggedReview(models.Model):
    """A review this tagger has tagged, and the text it read (sha256 of good_text NUL bad_text)."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="attribute_taggings", db_index=False)
    tagger = models.ForeignKey(AttributeModel, on_delete=models.CASCADE, related_name="tagged_reviews")
    text_hash = models.CharField(max_length=64)
    tagged_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["review", "tagger"], name="one_tagging_per_review_tagger")]

    def __str__(self):
        return f"review {self.review_id} tagged by {self.tagger_id} ({self.text_hash[:8]})"


class ReviewAttribute(models.Model):
    class Polarity(models.TextChoices):
        POS = "pos", "positive"
        NEG = "neg", "negative"
        PRESENT = "present", "present"

    class Field(models.TextChoices):
        GOOD = "good_text", "good_text"
        BAD = "bad_text", "bad_text"

    # The (review, tagger, attribute) constraint's index serves the profile: a product's reviews
    # (review_product_written) joined to their rows of the active tagger.
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="attributes", db_index=False)
    tagger = models.ForeignKey(AttributeModel, on_delete=models.CASCADE, related_name="review_attributes")
    attribute = models.CharField(max_length=50)
    polarity = models.CharField(max_length=10, choices=Polarity.choices)
    probability = models.FloatField()
    sentence = models.TextField()
    field = models.CharField(max_length=10, choices=Field.choices)
    # The sentence's span in review.<field>, or null where the splitter normalised it beyond a plain find.
    start = models.PositiveIntegerField(null=True, blank=True)
    end = models.PositiveIntegerField(null=True, blank=True)
    text_hash = models.CharField(max_length=64)
    tagged_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["review", "tagger", "attribute"], name="one_row_per_review_attribute"),
        ]
        indexes = [models.Index(fields=["tagger", "attribute", "polarity"], name="review_attribute_by_attribute")]

    def __str__(self):
        return f"review {self.review_id}: {self.attribute} {self.polarity} ({self.probability:.2f})"
