from rest_framework.permissions import BasePermission

from .. import services


class CanIngestReviews(BasePermission):
    """Holders of the `moderation.ingest_reviews` permission (API tokens of client apps)."""

    message = "this token may not ingest reviews (it lacks the moderation.ingest_reviews permission)"

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm("moderation.ingest_reviews"))


class CanModerateReviews(BasePermission):
    """Holders of `moderation.moderate_reviews` (the reviewers group): the same test as the pages'."""

    message = "this account may not work the reviewer queue (it lacks the moderation.moderate_reviews permission)"

    def has_permission(self, request, view):
        return services.may_moderate(request.user)
