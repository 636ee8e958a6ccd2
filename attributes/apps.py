from django.apps import AppConfig


class AttributesConfig(AppConfig):
    name = "attributes"
    verbose_name = "product attributes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Tags new reviews after moderation scoring finishes (a Celery signal; no import of torch).
        from . import signals  # noqa: F401
