"""Campaigns let go of Organisation, now in accounts (accounts' migration 0005): the table stays as it is."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0007_digest_cursor_replaced_by_entries"),
        ("accounts", "0005_organisation_moved_from_campaigns"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="campaign",
                    name="organisation",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        to="accounts.organisation",
                        verbose_name="organisation",
                    ),
                ),
                migrations.DeleteModel(name="Organisation"),
            ],
        ),
    ]
