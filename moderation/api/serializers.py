"""Serializers for what the API sends out. Incoming reviews are validated in
`moderation.ingest`, which the bulk loader shares."""

from rest_framework import serializers

from ..ingest import ReviewInSerializer
from ..models import Review


class PublicReviewSerializer(serializers.ModelSerializer):
    class Meta:
        model = Review
        fields = ["source", "external_id", "author_ref", "rating", "good_text", "bad_text", "written_at"]


class IngestResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    scoring = serializers.CharField()


class IngestErrorSerializer(serializers.Serializer):
    error = serializers.CharField()
    errors = serializers.ListField(child=serializers.DictField(), required=False)


__all__ = ["ReviewInSerializer", "PublicReviewSerializer", "IngestResultSerializer", "IngestErrorSerializer"]
