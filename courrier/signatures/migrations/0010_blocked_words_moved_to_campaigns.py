"""Signatures let go of BlockedWords, now in campaigns (campaigns' migration 0009): the table stays."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("signatures", "0009_moderation_rules"),
        ("campaigns", "0009_blocked_words_moved_from_signatures"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="BlockedWords")]),
    ]
