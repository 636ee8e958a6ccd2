"""Users for the page and API tests: one password for all, groups by name (the data migrations create
them)."""

from django.contrib.auth.models import Group, User

PASSWORD = "correct horse battery staple"
# The unused check's first reason, as the data migrations leave it (0008: Korean alone).
REASON = "미사용: 제품을 아직 사용하지 않음"


def make_user(username, group=None, **flags):
    user = User.objects.create_user(username, f"{username}@example.com", PASSWORD, **flags)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user
