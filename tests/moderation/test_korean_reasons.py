"""Migration 0008: the unused check's default reasons and description become Korean alone, where no admin
has edited them, and go back on a reverse migration."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.users import REASON

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

BEFORE, AFTER = ("moderation", "0007_threshold_confirmations"), ("moderation", "0008_korean_reasons")


def migrate(target):
    """The database migrated to `target`; the historical Check model of that state."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])
    return executor.loader.project_state([target]).apps.get_model("moderation", "Check")


def test_default_reasons_become_korean_and_edited_ones_stay():
    try:
        check = migrate(BEFORE).objects.get(code="unused")
        assert check.reasons[0] == "미사용: 제품을 아직 사용하지 않음 (not used yet)"  # as 0002 seeded them
        assert check.description.startswith("The writer has not used")

        check = migrate(AFTER).objects.get(code="unused")
        assert check.reasons[0] == REASON and len(check.reasons) == 5
        assert not any(c.isascii() and c.isalpha() for reason in check.reasons for c in reason), check.reasons
        assert check.description.startswith("작성자가 제품을 직접 사용하지 않은 리뷰")

        Check = migrate(BEFORE)  # back: the glosses return
        check = Check.objects.get(code="unused")
        assert check.reasons[0].endswith("(not used yet)") and check.description.startswith("The writer")

        # an admin's own reasons and description are data the migration leaves alone
        check.reasons = [*check.reasons, "광고성 리뷰 (ads)"]
        check.description = "our own words"
        check.save()
        check = migrate(AFTER).objects.get(code="unused")
        assert check.reasons[-1] == "광고성 리뷰 (ads)" and check.reasons[0].endswith("(not used yet)")
        assert check.description == "our own words"
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
