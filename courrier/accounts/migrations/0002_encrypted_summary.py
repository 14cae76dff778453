"""Audit summaries encrypted at rest: a moderation entry quotes why a letter was held, which can quote its writer.

Reversible: going back decrypts them with the keys in DATA_KEYS.
"""

from django.db import migrations

import courrier.db.fields
from courrier.db.rotation import decrypt_in_place, encrypt_in_place, migration_step


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditentry",
            name="summary",
            field=courrier.db.fields.EncryptedCharField(blank=True, max_length=500, verbose_name="summary"),
        ),
        migrations.RunPython(
            migration_step("accounts", "AuditEntry", ["summary"], encrypt_in_place),
            migration_step("accounts", "AuditEntry", ["summary"], decrypt_in_place),
        ),
    ]
