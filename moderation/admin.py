from django.contrib import admin

from .models import Action, Check, Classifier, Product, QueueItem, Review, Score


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["external_id", "name", "brand", "category"]
    search_fields = ["external_id", "name", "brand"]
    list_filter = ["category"]


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["id", "source", "external_id", "product", "rating", "visibility", "written_at", "received_at"]
    list_filter = ["visibility", "source", "rating"]
    search_fields = ["external_id", "good_text", "bad_text"]
    raw_id_fields = ["product"]
    date_hierarchy = "written_at"


@admin.register(Check)
class CheckAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "position"]


@admin.register(Classifier)
class ClassifierAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "moderation_check", "is_active", "registered_at", "activated_at", "path"]
    list_filter = ["moderation_check", "is_active"]
    readonly_fields = ["registered_at", "activated_at"]


@admin.register(Score)
class ScoreAdmin(admin.ModelAdmin):
    list_display = ["review", "moderation_check", "classifier", "probability", "scored_at"]
    list_filter = ["moderation_check", "classifier"]
    raw_id_fields = ["review"]


@admin.register(QueueItem)
class QueueItemAdmin(admin.ModelAdmin):
    list_display = ["review", "moderation_check", "probability", "status", "classifier", "decided_by", "decided_at"]
    list_filter = ["moderation_check", "status"]
    ordering = ["-probability"]
    raw_id_fields = ["review"]


@admin.register(Action)
class ActionAdmin(admin.ModelAdmin):
    """Audit rows are append-only: staff may read them, nobody edits them here."""

    list_display = ["created_at", "kind", "review", "moderation_check", "user", "reason", "probability", "batch"]
    list_filter = ["kind", "moderation_check", "user"]
    search_fields = ["batch", "reason", "note"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
