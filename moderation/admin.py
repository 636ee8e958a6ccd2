"""The Django admin: a window on the moderation data, not a way around the audit.

Moderation state changes only through moderation.actions (blind, keep, unblind, undo: each logged
as an Action and sent to the webhook), the scoring workers, and the registry with its gate
(`manage.py register_classifier` / `activate_classifier`). So here review visibility, queue items,
scores and a classifier's path and activation are read-only; names, brands, categories and a
check's wording stay editable.
"""

from django.contrib import admin

from .models import Action, Check, Classifier, Product, QueueItem, Review, Score, WebhookDelivery


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the moderation code alone: staff may read them, nobody edits them here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["external_id", "name", "brand", "category"]
    search_fields = ["external_id", "name", "brand"]
    list_filter = ["category"]

    def get_readonly_fields(self, request, obj=None):
        return ["external_id"] if obj else []  # the ingest API's key for the product


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["id", "source", "external_id", "product", "rating", "visibility", "written_at", "received_at"]
    list_filter = ["visibility", "source", "rating"]
    search_fields = ["external_id", "good_text", "bad_text"]
    raw_id_fields = ["product"]
    date_hierarchy = "written_at"
    # Visibility changes through the queue (audited, sent to the webhook); the texts and the rest come
    # from the ingest API, where an edit drops stale scores and reopens a keep decision.
    readonly_fields = [
        "source",
        "external_id",
        "product",
        "author_ref",
        "rating",
        "good_text",
        "bad_text",
        "written_at",
        "visibility",
        "received_at",
        "updated_at",
    ]

    def has_add_permission(self, request):
        return False  # reviews arrive through the ingest API (validated, then scored)


@admin.register(Check)
class CheckAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "position"]

    def get_readonly_fields(self, request, obj=None):
        return ["code"] if obj else []  # URLs, the gate's labelled set and the API name checks by code

    def has_delete_permission(self, request, obj=None):
        return False  # would take its scores and queue items with it


@admin.register(Classifier)
class ClassifierAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "moderation_check", "is_active", "registered_at", "activated_at", "path"]
    list_filter = ["moderation_check", "is_active"]
    # Registration (which copies the model into HWADMIN_MODEL_DIR and runs the gate) and activation go
    # through `manage.py register_classifier` and `manage.py activate_classifier`; only the name is edited here.
    readonly_fields = ["moderation_check", "path", "is_active", "registered_at", "activated_at", "metrics"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # would delete its scores


@admin.register(Score)
class ScoreAdmin(ReadOnlyAdmin):
    list_display = ["review", "moderation_check", "classifier", "probability", "scored_at"]
    list_filter = ["moderation_check", "classifier"]
    raw_id_fields = ["review"]


@admin.register(QueueItem)
class QueueItemAdmin(ReadOnlyAdmin):
    list_display = ["review", "moderation_check", "probability", "status", "classifier", "decided_by", "decided_at"]
    list_filter = ["moderation_check", "status"]
    ordering = ["-probability"]
    raw_id_fields = ["review"]


@admin.register(Action)
class ActionAdmin(ReadOnlyAdmin):
    """Audit rows are append-only: staff may read them, nobody edits them here."""

    list_display = ["created_at", "kind", "review", "moderation_check", "user", "reason", "probability", "batch"]
    list_filter = ["kind", "moderation_check", "user"]
    search_fields = ["batch", "reason", "note"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """Deliveries are read here; `manage.py redeliver_webhooks` re-queues dead ones."""

    list_display = ["id", "event", "status", "attempts", "last_status_code", "created_at", "updated_at", "delivered_at"]
    list_filter = ["status", "event"]
    search_fields = ["id", "last_error"]
    date_hierarchy = "created_at"
