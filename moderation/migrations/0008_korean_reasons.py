"""The unused check's default reasons and description in Korean alone, as the reviewers read them.

0002 seeded them with English glosses ("미사용: 제품을 아직 사용하지 않음 (not used yet)"); the reviewer UI is
Korean, and English is the interface's other language, not the data's. Reasons and description stay data:
a check whose reasons or description an admin has edited keeps them, and decisions already logged keep the
reason they were taken with.
"""

from django.db import migrations

GLOSSED = [
    "미사용: 제품을 아직 사용하지 않음 (not used yet)",
    "미개봉 / 구매 후기만 (unopened, purchase only)",
    "배송·가격·포장만 언급 (delivery, price or packaging only)",
    "선물용 구매, 본인 미사용 (bought as a gift, not used)",
    "기타 (other; explain in the note)",
]
KOREAN = [
    "미사용: 제품을 아직 사용하지 않음",
    "미개봉 / 구매 후기만",
    "배송·가격·포장만 언급",
    "선물용 구매, 본인 미사용",
    "기타 (메모에 설명)",
]
ENGLISH_DESCRIPTION = (
    "The writer has not used the product themselves (unopened, not yet tried, "
    "bought for later, only delivery, price or packaging)."
)
KOREAN_DESCRIPTION = (
    "작성자가 제품을 직접 사용하지 않은 리뷰 (미개봉, 아직 써 보지 않음, 나중에 쓰려고 구매, 배송·가격·포장만 언급)."
)


def swap(apps, reasons_from, reasons_to, description_from, description_to):
    Check = apps.get_model("moderation", "Check")
    for check in Check.objects.filter(code="unused"):
        changed = []
        if list(check.reasons or []) == reasons_from:
            check.reasons, changed = list(reasons_to), [*changed, "reasons"]
        if check.description == description_from:
            check.description, changed = description_to, [*changed, "description"]
        if changed:
            check.save(update_fields=changed)


def forward(apps, schema_editor):
    swap(apps, GLOSSED, KOREAN, ENGLISH_DESCRIPTION, KOREAN_DESCRIPTION)


def backward(apps, schema_editor):
    swap(apps, KOREAN, GLOSSED, KOREAN_DESCRIPTION, ENGLISH_DESCRIPTION)


class Migration(migrations.Migration):
    dependencies = [("moderation", "0007_threshold_confirmations")]
    operations = [migrations.RunPython(forward, backward)]
