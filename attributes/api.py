"""GET /api/v1/products/<external_id>/attributes: a product's attribute profile for the client app.

Readable by reviewers and staff (sessions or tokens) and by ingest-client tokens (the app shows the
profile to shoppers); anonymous callers get a 401, other accounts a 403.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from moderation.api import schema
from moderation.api.serializers import ProductRefSerializer
from moderation.models import Product

from . import profile as profiles
from .models import AttributeModel
from .views import may_read_profiles


class CanReadAttributes(BasePermission):
    message = (
        "this account may not read product attributes (it needs moderation.moderate_reviews, staff, "
        "or an ingest token with moderation.ingest_reviews)"
    )

    def has_permission(self, request, view):
        user = request.user
        return may_read_profiles(user) or bool(
            user and user.is_authenticated and user.has_perm("moderation.ingest_reviews")
        )


class AttributeCountSerializer(serializers.Serializer):
    count = serializers.IntegerField(min_value=0, help_text="tagged visible reviews with this mention")
    share = serializers.FloatField(min_value=0, max_value=1, help_text="count / tagged")
    low = serializers.FloatField(min_value=0, max_value=1, help_text="95 % Wilson interval, lower end")
    high = serializers.FloatField(min_value=0, max_value=1, help_text="95 % Wilson interval, upper end")


class AttributeShareSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="the taxonomy's attribute id, e.g. moisture")
    ko = serializers.CharField(help_text="Korean name")
    en = serializers.CharField(help_text="English name")
    polarity = serializers.BooleanField(help_text="true: mentions are positive or negative; false: present only")
    mentions = AttributeCountSerializer(help_text="reviews mentioning it at all")
    positive = AttributeCountSerializer()
    negative = AttributeCountSerializer()
    present = AttributeCountSerializer(help_text="mentions of an attribute without polarity")


class AttributeTaggerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=AttributeModel.Kind.values)
    taxonomy_version = serializers.IntegerField(min_value=0)


class ProductAttributesSerializer(serializers.Serializer):
    product = ProductRefSerializer()
    reviews = serializers.IntegerField(min_value=0, help_text="visible reviews of the product")
    tagged = serializers.IntegerField(min_value=0, help_text="of those, tagged by the tagger: the denominator")
    tagger = AttributeTaggerSerializer(allow_null=True, help_text="the active tagger; null before any extraction")
    attributes = AttributeShareSerializer(many=True, help_text="most mentioned first")


class ProductAttributesView(APIView):
    permission_classes = [CanReadAttributes]

    @extend_schema(
        parameters=[schema.PUBLIC_REVIEWS_PARAMETERS[0], schema.RETRY_AFTER],
        responses={
            200: OpenApiResponse(ProductAttributesSerializer, description="the product's attribute profile"),
            **schema.errors(401, 403, 404, 429),
        },
        description=(
            "Per attribute, the share of the product's visible tagged reviews that mention it, split into "
            "positive and negative, with counts and 95 % Wilson intervals. Reviewers, staff and ingest tokens."
        ),
    )
    def get(self, request, external_id):
        product = get_object_or_404(Product, external_id=external_id)
        data = profiles.profile(Product.objects.filter(pk=product.pk))
        body = {
            "product": {
                "external_id": product.external_id,
                "name": product.name,
                "brand": product.brand,
                "category": product.category,
            },
            **data,
        }
        return Response(ProductAttributesSerializer(body).data)
