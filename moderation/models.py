"""The moderation data model.

A review arrives (Review, with its Product), the active Classifier of each
Check scores it (Score), and the review then waits in that check's queue
(QueueItem) until a reviewer decides: blind or keep. Every decision is an
append-only Action row.

QueueItem is the one row per (review, check) that the reviewer queue reads:
it carries the sort key (the probability from the check's active classifier),
the decision state and the reviewer's hold. Keeping it apart from Score means
that a new classifier's rescoring never loses a decision, and that the queue
is a single index scan on PostgreSQL:

    WHERE check_id = C AND status = 'open'
    ORDER BY probability DESC, review_id DESC
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Product(models.Model):
    external_id = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=300, blank=True)
    brand = models.CharField(max_length=200, blank=True, db_index=True)
    category = models.CharField(max_length=200, blank=True, db_index=True)

    def __str__(self):
        return f"{self.brand} {self.name}".strip() or self.external_id


class Review(models.Model):
    class Visibility(models.TextChoices):
        VISIBLE = "visible", "visible"
        BLINDED = "blinded", "blinded"

    source = models.CharField(max_length=50)
    external_id = models.CharField(max_length=100)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="reviews")
    author_ref = models.CharField(max_length=100, blank=True)
    rating = models.PositiveSmallIntegerField()
    good_text = models.TextField(blank=True)
    bad_text = models.TextField(blank=True)
    written_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.VISIBLE)
    # Raised by one (atomically) each time the client app is told of this review's visibility;
    # sent as "sequence" so that the app keeps the newest state (moderation/webhooks.py).
    # (db_default too: raw-SQL inserts such as benchmarks/queue_page.py's need not name it)
    webhook_sequence = models.PositiveBigIntegerField(default=0, db_default=0, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="review_source_external_id"),
            models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5), name="review_rating_1_5"),
        ]
        indexes = [
            models.Index(fields=["product", "-written_at"], name="review_product_written"),
        ]
        permissions = [("ingest_reviews", "Can send reviews through the ingest API")]

    def __str__(self):
        return f"{self.source}:{self.external_id}"

    @property
    def text(self):
        """The text a classifier reads: good part, then bad part."""
        return join_review_text(self.good_text, self.bad_text)


def join_review_text(good_text, bad_text):
    return "\n".join(part for part in (good_text.strip(), bad_text.strip()) if part)


class Check(models.Model):
    """A moderation check (검수 항목), such as 'unused' (미사용 리뷰)."""

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    # The reasons a reviewer picks from when blinding under this check.
    reasons = models.JSONField(default=list, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "code"]

    def __str__(self):
        return f"{self.code} ({self.name})"

    @property
    def active_classifier(self):
        return self.classifiers.filter(is_active=True).first()


class RegisteredModel(models.Model):
    """A registered model (a Classifier here, attributes' AttributeModel): where it lies, what it scored
    at registration, and whether it is the active one (each model's constraint says among which). Abstract:
    each keeps its own table."""

    name = models.CharField(max_length=200)
    path = models.CharField(max_length=1000)
    metrics = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=False)
    registered_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class Classifier(RegisteredModel):
    """A registered HuggingFace model directory that scores one check."""

    moderation_check = models.ForeignKey(
        Check, on_delete=models.PROTECT, related_name="classifiers", db_column="check_id"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["moderation_check"], condition=Q(is_active=True), name="one_active_classifier_per_check"
            ),
        ]

    def __str__(self):
        return f"{self.name} #{self.pk}"


class Score(models.Model):
    # FK indexes that a composite index below already covers are left out: fewer indexes, faster writes.
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="scores", db_index=False)
    moderation_check = models.ForeignKey(Check, on_delete=models.CASCADE, related_name="scores", db_column="check_id")
    classifier = models.ForeignKey(Classifier, on_delete=models.CASCADE, related_name="scores", db_index=False)
    probability = models.FloatField()
    scored_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["review", "moderation_check", "classifier"], name="one_score_per_classifier"
            ),
        ]
        indexes = [models.Index(fields=["classifier", "review"], name="score_classifier_review")]

    def __str__(self):
        return f"review {self.review_id}: p={self.probability:.3f} (classifier {self.classifier_id})"


class QueueItem(models.Model):
    """A review waiting for (or having had) a decision under one check."""

    class Status(models.TextChoices):
        OPEN = "open", "open"
        BLINDED = "blinded", "blinded"
        KEPT = "kept", "kept"

    # FK indexes covered by the composite indexes below are left out (faster writes).
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="queue_items", db_index=False)
    moderation_check = models.ForeignKey(
        Check, on_delete=models.CASCADE, related_name="queue_items", db_column="check_id", db_index=False
    )
    probability = models.FloatField()
    classifier = models.ForeignKey(Classifier, on_delete=models.PROTECT, related_name="queue_items")
    scored_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    # A reviewer who opened a page of the queue holds its rows until held_until.
    held_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    held_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["review", "moderation_check"], name="one_queue_item_per_check"),
        ]
        indexes = [
            models.Index(
                "moderation_check",
                models.F("probability").desc(),
                models.F("review").desc(),
                condition=Q(status="open"),
                name="queue_open_by_probability",
            ),
            models.Index(fields=["moderation_check", "status", "decided_at"], name="queue_decided"),
        ]
        permissions = [("moderate_reviews", "Can work the reviewer queue: view, blind, keep and unblind")]

    def __str__(self):
        return f"review {self.review_id} under check {self.moderation_check_id}: {self.status}"


class Action(models.Model):
    """One append-only audit row: who did what to which review, when and why.

    Rows of one reviewer action share a batch id; undoing the batch writes new
    rows (pointing back with `reverts`) rather than editing these.
    """

    class Kind(models.TextChoices):
        BLIND = "blind", "blind"
        UNBLIND = "unblind", "unblind"
        KEEP = "keep", "keep"
        REOPEN = "reopen", "reopen"

    batch = models.UUIDField(default=uuid.uuid4, db_index=True)
    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="actions", db_index=False)
    moderation_check = models.ForeignKey(
        Check, null=True, blank=True, on_delete=models.PROTECT, related_name="actions", db_column="check_id"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="moderation_actions"
    )
    reason = models.CharField(max_length=200, blank=True)
    note = models.TextField(blank=True)
    # What the reviewer saw when deciding: the score and the model behind it.
    probability = models.FloatField(null=True, blank=True)
    classifier = models.ForeignKey(Classifier, null=True, blank=True, on_delete=models.PROTECT, related_name="actions")
    reverts = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reverted_by")
    # Set on the rows of a "blind all >= p" action: the threshold p. Null on
    # decisions a reviewer made review by review.
    threshold = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["review", "created_at"], name="action_review_time")]

    def __str__(self):
        return f"{self.kind} review {self.review_id} (batch {self.batch})"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ValueError("Action rows are append-only; write a new row instead")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Action rows are append-only and cannot be deleted")


class WebhookDelivery(models.Model):
    """One webhook delivery to the client app, kept until it is delivered or declared dead.

    The id is the X-Hwadmin-Delivery header, the same on every retry and redelivery.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        DELIVERED = "delivered", "delivered"
        DEAD = "dead", "failed (dead)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event = models.CharField(max_length=50)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # POSTs tried since the delivery was (re)queued; dead after HWADMIN_WEBHOOK_MAX_ATTEMPTS.
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "updated_at"], name="webhook_delivery_status")]
        verbose_name_plural = "webhook deliveries"

    def __str__(self):
        return f"{self.event} {self.id} ({self.status})"


class ThresholdConfirmation(models.Model):
    """A used threshold-blind confirmation token (its batch id): a token confirms once, even when its blind
    changed nothing (every previewed review decided by others first) and so wrote no audit row."""

    batch = models.UUIDField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    used_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"threshold confirmation {self.batch}"
