"""A target's digests no longer follow a cursor over the campaign's signatures: they list its own
DigestEntry rows (delivery 0005, which turned what the cursors still had to list into entries first)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0006_encrypted_tally"),
        ("delivery", "0005_digest_entries"),
    ]

    operations = [
        migrations.RemoveField(model_name="target", name="digest_cursor"),
        migrations.RemoveField(model_name="target", name="digest_cursor_at"),
    ]
