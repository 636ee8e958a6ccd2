from django.contrib import admin

from .models import AttributeModel


@admin.register(AttributeModel)
class AttributeModelAdmin(admin.ModelAdmin):
    """Read-only: taggers are registered and activated with manage.py register_attribute_model."""

    list_display = ["id", "name", "kind", "taxonomy_version", "is_active", "registered_at"]
    readonly_fields = [
        "name",
        "kind",
        "path",
        "taxonomy_version",
        "metrics",
        "is_active",
        "registered_at",
        "activated_at",
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
