"""Leave 10% of each review page free on PostgreSQL, so that blinding or
unblinding a review (visibility and updated_at, no indexed column) is a HOT
update: the new row version stays on its page and none of the table's four
indexes is written. With full pages (fillfactor 100, the default) each such
update also inserted four index entries; a 10,000-review threshold blind spent
about a quarter of its time there.

Existing pages keep their rows; the free space appears as pages are filled
anew or vacuumed. A no-op on other databases.
"""

from django.db import migrations

FILLFACTOR = 90


def set_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE moderation_review SET (fillfactor = {FILLFACTOR})")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE moderation_review RESET (fillfactor)")


class Migration(migrations.Migration):

    dependencies = [
        ("moderation", "0004_fewer_indexes"),
    ]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor, elidable=False)]
