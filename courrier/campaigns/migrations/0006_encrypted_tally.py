"""The public list of supporters' organisations, encrypted at rest like the signatures it comes from.

Reversible: going back decrypts it with the keys in DATA_KEYS.
"""

from django.db import migrations

import courrier.db.fields
from courrier.db.rotation import decrypt_in_place, encrypt_in_place, migration_step


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0005_retention"),
    ]

    operations = [
        migrations.AlterField(
            model_name="campaign",
            name="tally_organisations",
            field=courrier.db.fields.EncryptedJSONField(blank=True, default=list, editable=False),
        ),
        migrations.RunPython(
            migration_step("campaigns", "Campaign", ["tally_organisations"], encrypt_in_place),
            migration_step("campaigns", "Campaign", ["tally_organisations"], decrypt_in_place),
        ),
    ]
