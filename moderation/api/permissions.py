from rest_framework.permissions import BasePermission


class CanIngestReviews(BasePermission):
    """Holders of the `moderation.ingest_reviews` permission (API tokens of client apps)."""

    message = "this token may not ingest reviews (it lacks the moderation.ingest_reviews permission)"

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm("moderation.ingest_reviews"))
