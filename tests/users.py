"""Users for the page and API tests: one password for all, groups by name (the data migrations create
them)."""

from django.contrib.auth.models import Group, User

PASSWORD = "correct horse battery staple"


def make_user(username, group=None, **flags):
    user = User.objects.create_user(username, f"{username}@example.com", PASSWORD, **flags)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user
