"""Second-factor secrets encrypted at rest, like supporters' data: a dump and a cracked password are not enough.

Reversible: going back decrypts them with the keys in DATA_KEYS.
"""

from django.db import migrations

import courrier.db.fields
from courrier.db.rotation import decrypt_in_place, encrypt_in_place, migration_step


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_encrypted_summary"),
    ]

    operations = [
        migrations.AlterField(
            model_name="totpdevice",
            name="secret",
            field=courrier.db.fields.EncryptedCharField(max_length=64),
        ),
        migrations.RunPython(
            migration_step("accounts", "TOTPDevice", ["secret"], encrypt_in_place),
            migration_step("accounts", "TOTPDevice", ["secret"], decrypt_in_place),
        ),
    ]
