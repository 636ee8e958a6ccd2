"""The first check (미사용 리뷰) and the two groups the product relies on."""

from django.db import migrations

UNUSED_REASONS = [
    "미사용: 제품을 아직 사용하지 않음 (not used yet)",
    "미개봉 / 구매 후기만 (unopened, purchase only)",
    "배송·가격·포장만 언급 (delivery, price or packaging only)",
    "선물용 구매, 본인 미사용 (bought as a gift, not used)",
    "기타 (other; explain in the note)",
]


def create(apps, schema_editor):
    Check = apps.get_model("moderation", "Check")
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    Check.objects.update_or_create(
        code="unused",
        defaults={
            "name": "미사용 리뷰",
            "description": "The writer has not used the product themselves (unopened, not yet tried, "
            "bought for later, only delivery, price or packaging).",
            "reasons": UNUSED_REASONS,
            "position": 0,
        },
    )

    def permission(model, codename, name):
        content_type, _ = ContentType.objects.get_or_create(app_label="moderation", model=model)
        perm, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        return perm

    reviewers, _ = Group.objects.get_or_create(name="reviewers")
    reviewers.permissions.add(
        permission("queueitem", "moderate_reviews", "Can work the reviewer queue: view, blind, keep and unblind")
    )
    clients, _ = Group.objects.get_or_create(name="ingest clients")
    clients.permissions.add(permission("review", "ingest_reviews", "Can send reviews through the ingest API"))


def remove(apps, schema_editor):
    apps.get_model("moderation", "Check").objects.filter(code="unused").delete()
    apps.get_model("auth", "Group").objects.filter(name__in=["reviewers", "ingest clients"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("moderation", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create, remove)]
