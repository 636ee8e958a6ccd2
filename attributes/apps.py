from django.apps import AppConfig


class AttributesConfig(AppConfig):
    name = "attributes"
    verbose_name = "product attributes"
    default_auto_field = "django.db.models.BigAutoField"

    @property
    def metrics_collector(self):
        """Collected by moderation.metrics.exposition on each /metrics scrape."""
        from .metrics import AttributesCollector

        return AttributesCollector()

    def ready(self):
        # Tags new reviews after moderation scoring finishes (a Celery signal; no import of torch).
        from . import signals  # noqa: F401
