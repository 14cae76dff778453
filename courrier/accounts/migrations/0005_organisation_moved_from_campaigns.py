"""Organisations move from campaigns to accounts, where memberships and roles are: the layers' order.

Only Django's idea of the models changes: the table keeps its name (campaigns_organisation) and its rows,
and no column is touched. campaigns' migration 0008 then lets go of its own Organisation. The content type
moves with the model, so that permissions and audit entries attached to it follow.
"""

import django.db.models.deletion
from django.db import migrations, models


def move_content_type(apps, schema_editor, source="campaigns", destination="accounts"):
    content_types = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    # A fresh database may already hold the new one (made by a previous post_migrate): keep the old, with its
    # permissions.
    old = content_types.objects.using(db).filter(app_label=source, model="organisation")
    if old.exists():
        content_types.objects.using(db).filter(app_label=destination, model="organisation").delete()
        old.update(app_label=destination)


def move_content_type_back(apps, schema_editor):
    move_content_type(apps, schema_editor, source="accounts", destination="campaigns")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_moderation_entries_name_no_words"),
        ("campaigns", "0007_digest_cursor_replaced_by_entries"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Organisation",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("name", models.CharField(max_length=200, verbose_name="name")),
                        ("website", models.URLField(blank=True, verbose_name="website")),
                        ("contact_email", models.EmailField(blank=True, max_length=254, verbose_name="contact e-mail")),
                    ],
                    options={
                        "verbose_name": "organisation",
                        "verbose_name_plural": "organisations",
                        "db_table": "campaigns_organisation",
                    },
                ),
                migrations.AlterField(
                    model_name="membership",
                    name="organisation",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="memberships",
                        to="accounts.organisation",
                        verbose_name="organisation",
                    ),
                ),
                migrations.AlterField(
                    model_name="auditentry",
                    name="organisation",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="accounts.organisation",
                        verbose_name="organisation",
                    ),
                ),
            ],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
