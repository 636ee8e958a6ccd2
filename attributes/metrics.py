"""The attribute service's figures for /metrics (collected from the database on each scrape, as
moderation.metrics' business figures are): the active tagger, and the visible reviews it has not
tagged yet. A backlog that grows while reviews are scored means the tagging tasks fail (an active
tagger that no longer loads, say): the worker log says why."""

from prometheus_client.core import GaugeMetricFamily


class AttributesCollector:
    def collect(self):
        from django.db.models import Exists, OuterRef

        from moderation.models import Review

        from .models import AttributeModel, TaggedReview

        active = AttributeModel.objects.filter(is_active=True).first()
        tagger = GaugeMetricFamily(
            "hwadmin_active_attribute_tagger",
            "1 for the attribute tagger that tags new reviews (absent: none registered yet).",
            labels=["tagger", "kind", "tagger_id"],
        )
        untagged = GaugeMetricFamily(
            "hwadmin_untagged_reviews", "Visible reviews the active attribute tagger has not tagged yet."
        )
        if active is not None:
            tagger.add_metric([active.name, active.kind, str(active.pk)], 1)
            untagged.add_metric(
                [],
                Review.objects.filter(visibility=Review.Visibility.VISIBLE)
                .filter(~Exists(TaggedReview.objects.filter(tagger=active, review=OuterRef("pk"))))
                .count(),
            )
        yield tagger
        yield untagged
