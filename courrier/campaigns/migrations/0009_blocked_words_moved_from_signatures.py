"""The words held for review move from signatures to campaigns: they are part of a campaign's settings
(copied when it is duplicated), and campaigns sit below signatures in the layers.

Only Django's idea of the models changes: the table keeps its name and rows; signatures' migration 0010
lets go of its own BlockedWords. The content type (and so its permissions) moves with the model.
"""

import django.db.models.deletion
from django.db import migrations, models


def move_content_type(apps, schema_editor, source="signatures", destination="campaigns"):
    content_types = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    old = content_types.objects.using(db).filter(app_label=source, model="blockedwords")
    if old.exists():
        content_types.objects.using(db).filter(app_label=destination, model="blockedwords").delete()
        old.update(app_label=destination)


def move_content_type_back(apps, schema_editor):
    move_content_type(apps, schema_editor, source="campaigns", destination="signatures")


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0008_organisation_moved_to_accounts"),
        ("signatures", "0009_moderation_rules"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="BlockedWords",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        (
                            "language",
                            models.CharField(
                                choices=[("fr", "Français"), ("en", "English"), ("ru", "Русский"), ("kk", "Қазақша")],
                                max_length=8,
                                verbose_name="language",
                            ),
                        ),
                        ("words", models.TextField(blank=True, help_text="One word or phrase per line.", verbose_name="words")),
                        (
                            "campaign",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="blocked_words",
                                to="campaigns.campaign",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "words held for review",
                        "verbose_name_plural": "words held for review",
                        "db_table": "signatures_blockedwords",
                        "constraints": [
                            models.UniqueConstraint(fields=("campaign", "language"), name="one_word_list_per_language")
                        ],
                    },
                ),
            ],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
